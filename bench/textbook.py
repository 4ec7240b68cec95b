"""What users would write themselves: a FastAPI endpoint calling Celery's ``.delay()``, and a
Celery app with the defaults of Celery's own tutorial."""

import os
from typing import Any

import redis
from celery import Celery
from fastapi import FastAPI

app = Celery("textbook", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.task(name="textbook.noop")
def noop(body: dict[str, Any] | None = None) -> None:
    return None


@app.task(name="textbook.last")
def last(key: str) -> None:
    """Queued after a batch: with one pool process, the batch is done when this has run."""
    redis.Redis.from_url(app.conf.broker_url).set(key, 1)


api = FastAPI()


@api.post("/jobs", status_code=202)
def submit(body: dict[str, Any]) -> dict[str, str]:
    return {"id": noop.delay(body).id}
