"""Periodic reports: a cron schedule kept by RedBeat in Redis, each firing a new report job.

RedBeat holds the beat's lock in Redis, so however many beat replicas run, one fires. A
firing's message may still be delivered twice (late acks): the report job it submits carries
the firing's id as its idempotency key, so it makes one report.
"""

import hashlib
import json
from typing import Any

from celery import Celery
from celery.schedules import crontab
from redbeat import RedBeatSchedulerEntry
from redbeat.schedulers import ensure_conf

from services.common.broker import sync_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.ledger import Submission, submit_blocking
from services.reports import BUILD, FIRE_SCHEDULE, SERVICE
from services.reports.settings import ReportsSettings

KEPT_JOBS = 100


def parse_cron(expression: str) -> crontab:
    """Five fields: minute hour day-of-month month day-of-week."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has five fields, got {len(fields)}")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute, hour, day_of_week, day_of_month, month)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None


def entry_name(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


def save(app: Celery, schedule_id: str, cron: str, tenant: str, spec: dict[str, Any]) -> None:
    kwargs = {"schedule_id": schedule_id, "tenant": tenant, "spec": spec, "cron": cron}
    entry = RedBeatSchedulerEntry(
        entry_name(schedule_id), FIRE_SCHEDULE, parse_cron(cron), kwargs=kwargs, app=app
    )
    entry.save()


def load(app: Celery, schedule_id: str) -> RedBeatSchedulerEntry | None:
    key = ensure_conf(app).key_prefix + entry_name(schedule_id)
    try:
        return RedBeatSchedulerEntry.from_key(key, app=app)
    except KeyError:
        return None


def jobs_key(settings: ReportsSettings, schedule_id: str) -> str:
    return f"{QueueKeys(settings.key_namespace, SERVICE).prefix}schedule-jobs:{schedule_id}"


def fire(
    settings: ReportsSettings, schedule_id: str, tenant: str, spec: dict[str, Any], firing_id: str
) -> str:
    """Submit this firing's report job; returns its id."""
    payload = {**spec, "run_at": None}
    submission = Submission(
        task=BUILD,
        tenant=tenant,
        body_hash=hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(),
        payload=payload,
        idempotency_key=f"firing:{firing_id}",
    )
    job, created = submit_blocking(settings, SERVICE, submission)
    if created:
        with sync_client(settings).pipeline() as pipe:
            pipe.lpush(jobs_key(settings, schedule_id), job.id)
            pipe.ltrim(jobs_key(settings, schedule_id), 0, KEPT_JOBS - 1)
            pipe.execute()
    return job.id
