"""The reports Celery app: ``celery -A services.reports.worker worker -Q reports``, and its one
beat: ``celery -A services.reports.worker beat -S redbeat.RedBeatScheduler``."""

from services.common.celery import create_celery_app
from services.common.jobs.keys import QueueKeys
from services.reports import RELEASE_DUE, SERVICE
from services.reports.settings import ReportsSettings

settings = ReportsSettings()
app = create_celery_app(SERVICE, settings, include=("services.reports.tasks",))
app.conf.update(
    # RedBeat keeps the schedule in Redis and holds a lock there, so a second beat replica
    # waits instead of firing the same entries again.
    beat_scheduler="redbeat.RedBeatScheduler",
    redbeat_redis_url=settings.redis_url,
    redbeat_key_prefix=f"{QueueKeys(settings.key_namespace, SERVICE).prefix}redbeat:",
    redbeat_lock_timeout=int(settings.reports_release_interval * 6),
    beat_max_loop_interval=settings.reports_release_interval,
    beat_schedule={
        "release-due-reports": {"task": RELEASE_DUE, "schedule": settings.reports_release_interval},
    },
)
