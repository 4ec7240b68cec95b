"""Ingest's tasks: thin wrappers over plain functions."""

from functools import cache

from sqlalchemy import Engine

from services.common.db import create_data_engine
from services.common.tasks import JobContext
from services.ingest import LOAD_DATASET, loader
from services.ingest.worker import app, settings


@cache
def engine() -> Engine:
    """Made on first use, so in the pool child after the fork, never shared across it."""
    return create_data_engine(settings.database_url)


@app.task(name=LOAD_DATASET)
def load_dataset(context: JobContext) -> dict[str, int]:
    return loader.load_dataset(engine(), context, settings)
