"""The queue message of a job, exactly as kombu's Redis transport stores it.

The APIs push it with their own asyncio client inside the ledger's MULTI/EXEC instead of
calling Celery's blocking publisher; Celery builds the protocol-2 headers and body.
"""

import base64
import json
import time
import uuid

from celery import Celery
from kombu.serialization import dumps

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import Job


def task_message(
    app: Celery,
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
    message = app.amqp.as_task_v2(
        job.id, job.task, args=(job.id,), countdown=countdown, retries=retries
    )
    content_type, encoding, body = dumps(message.body, serializer="json")
    if due_at is None:
        due_at = time.time() + (countdown or 0)
    headers = dict(message.headers, request_id=job.request_id, due_at=due_at)
    return json.dumps(
        {
            "body": base64.b64encode(body.encode(encoding)).decode("ascii"),
            "content-encoding": encoding,
            "content-type": content_type,
            "headers": headers,
            "properties": {
                **message.properties,
                "delivery_mode": 2,
                "delivery_info": {"exchange": keys.queue, "routing_key": keys.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )
