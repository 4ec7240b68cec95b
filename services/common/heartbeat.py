"""A worker liveness file, touched by the consumer's own timer.

The file goes stale when the consumer stops making progress (for instance "alive but idle"
after a broker restart, celery#8030), which ``celery inspect ping`` would not notice; a
Kubernetes probe checks its age instead (celery#4079).
"""

from pathlib import Path
from typing import Any

from celery import Celery, bootsteps


def install_heartbeat(app: Celery, path: str, interval: float) -> None:
    if not path:
        return

    class Heartbeat(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def start(self, consumer: Any) -> None:
            Path(path).touch()
            self.timer = consumer.timer.call_repeatedly(interval, Path(path).touch)

        def stop(self, consumer: Any) -> None:
            # Also called on every consumer restart (a broker outage): the file then ages
            # instead of vanishing, so a probe waits out a short outage.
            consumer.timer.cancel(self.timer)

        def shutdown(self, consumer: Any) -> None:
            Path(path).unlink(missing_ok=True)

    app.steps["consumer"].add(Heartbeat)
