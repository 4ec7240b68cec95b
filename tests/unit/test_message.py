"""The envelope built by hand is Celery's own, so a Celery upgrade that changes it shows here."""

import base64
import json
from datetime import datetime

import pytest
from celery import Celery

from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import Job, new_job_id, utcnow

KEYS = QueueKeys("taskyard", "email")
# Differ by nature: the sending process, and the moment a countdown runs from.
PER_SEND = ("origin", "eta")


def job() -> Job:
    now = utcnow()
    return Job(id=new_job_id(), task="email.send", tenant="alpha", created_at=now, updated_at=now)


@pytest.mark.parametrize(("countdown", "retries"), [(None, 0), (30.0, 2)])
def test_the_envelope_is_what_celery_would_send(countdown, retries) -> None:
    sample = job()
    envelope = json.loads(task_message(KEYS, sample, countdown=countdown, retries=retries))
    celery = Celery("email", set_as_current=False).amqp.as_task_v2(
        sample.id, sample.task, args=(sample.id,), countdown=countdown, retries=retries
    )
    headers = envelope["headers"]
    expected = {name: value for name, value in celery.headers.items() if name not in PER_SEND}
    assert {name: headers[name] for name in expected} == json.loads(json.dumps(expected))
    assert json.loads(base64.b64decode(envelope["body"])) == json.loads(json.dumps(celery.body))
    assert envelope["properties"].items() >= celery.properties.items()
    assert (headers["eta"] is None) == (celery.headers["eta"] is None)


def test_a_countdown_is_an_eta_and_a_due_time() -> None:
    envelope = json.loads(task_message(KEYS, job(), countdown=60))
    eta = datetime.fromisoformat(envelope["headers"]["eta"])
    assert eta.tzinfo is not None
    assert eta.timestamp() == pytest.approx(envelope["headers"]["due_at"], abs=0.01)
    assert eta.timestamp() - utcnow().timestamp() == pytest.approx(60, abs=1)


def test_the_envelope_routes_to_the_queue_and_carries_the_request_id() -> None:
    sample = job().model_copy(update={"request_id": "req-1"})
    envelope = json.loads(task_message(KEYS, sample))
    assert envelope["properties"]["delivery_info"] == {"exchange": "email", "routing_key": "email"}
    assert envelope["headers"]["request_id"] == "req-1"
    assert envelope["properties"]["body_encoding"] == "base64"
