"""Reports' tasks: thin wrappers over plain functions."""

from functools import cache
from typing import Any

from celery import Task
from sqlalchemy import Engine

from services.common.broker import sync_client
from services.common.db import create_data_engine
from services.common.jobs.delayed import release_due
from services.common.jobs.keys import QueueKeys
from services.common.tasks import JobContext
from services.reports import BUILD, FIRE_SCHEDULE, RELEASE_DUE, SERVICE, builder, schedules
from services.reports.worker import app, settings


@cache
def engine() -> Engine:
    """Made on first use, so in the pool child after the fork, never shared across it."""
    return create_data_engine(settings.database_url)


@app.task(name=BUILD)
def build(context: JobContext) -> dict[str, Any]:
    return builder.build_report(engine(), context, settings)


@app.task(name=FIRE_SCHEDULE, base=Task, bind=True, ignore_result=True)
def fire_schedule(
    task: Task[Any, Any], schedule_id: str, tenant: str, spec: dict[str, Any], cron: str
) -> str:
    """A cron schedule's tick: one new report job, whatever happens to this message."""
    return schedules.fire(settings, schedule_id, tenant, spec, firing_id=str(task.request.id))


@app.task(name=RELEASE_DUE, base=Task, ignore_result=True)
def release(*_: Any) -> int:
    """Beat's tick: move reports whose run_at has come from the delayed set to the queue."""
    return release_due(sync_client(settings), QueueKeys(settings.key_namespace, SERVICE))
