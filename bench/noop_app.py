"""Taskyard's own worker with a task that does nothing: the drain rate is our overhead.

Short jobs, so set up as the email service's worker is, one message fetched ahead per process.
"""

from services.common.celery import create_celery_app
from services.common.tasks import JobContext
from services.email.settings import EmailSettings

app = create_celery_app("bench", EmailSettings())


@app.task(name="bench.noop")
def noop(context: JobContext) -> None:
    return None
