"""Taskyard's own worker with a task that does nothing: the drain rate is our overhead."""

from services.common.celery import create_celery_app
from services.common.settings import Settings
from services.common.tasks import JobContext

app = create_celery_app("bench", Settings())


@app.task(name="bench.noop")
def noop(context: JobContext) -> None:
    return None
