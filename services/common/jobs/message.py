"""The queue message of a job, exactly as kombu's Redis transport stores it.

The APIs push it with their own asyncio client inside the ledger's script instead of calling
Celery's blocking publisher. The envelope is Celery's task protocol 2 with the values of
Celery's ``as_task_v2`` for a task whose only argument is the job id; built here, because
``as_task_v2`` spends a submission's time on generic work (safe reprs, configuration look-ups)
that gives the same answer for every job. tests/unit/test_message.py holds it to Celery's.
"""

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

from celery.utils.nodenames import anon_nodename

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import Job, utcnow

# The body's third part: nothing runs after a job, its outcome is in the ledger.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_message(
    keys: QueueKeys,
    job: Job,
    *,
    countdown: float | None = None,
    retries: int = 0,
    due_at: float | None = None,
) -> str:
    """Messages carry the job id only: the payload lives in the ledger or the data store.

    ``due_at`` (epoch seconds, default now plus the countdown) is when the message is meant
    to run; the queue-wait metric and the oldest-message age count from it.
    """
    now = utcnow()
    eta = (now + timedelta(seconds=countdown)).isoformat() if countdown else None
    if due_at is None:
        due_at = now.timestamp() + (countdown or 0)
    body = json.dumps([[job.id], {}, _EMBED])
    headers: dict[str, Any] = {
        "lang": "py",
        "task": job.task,
        "id": job.id,
        "shadow": None,
        "eta": eta,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": retries,
        "timelimit": [None, None],
        "root_id": job.id,
        "parent_id": None,
        "argsrepr": f"({job.id!r},)",
        "kwargsrepr": "{}",
        "origin": anon_nodename(),
        "ignore_result": False,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        "request_id": job.request_id,
        "due_at": due_at,
    }
    return json.dumps(
        {
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": job.id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": keys.queue, "routing_key": keys.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )
