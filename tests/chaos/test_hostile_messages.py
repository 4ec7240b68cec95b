"""Messages pushed onto a queue by hand: none executes, each is logged and counted, and the
worker goes on consuming."""

import base64
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import redis
import yaml

from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import Job, JobStatus, encode, new_job_id, utcnow
from tests.jobs import read_job, sample_count, submit, wait_status, with_ledger
from tests.scrape import wait_for_totals
from tests.stack import Stack


def envelope_of(stack: Stack) -> dict:
    """A well-formed envelope of a queued job whose only message is the one the test pushes."""
    now = utcnow()
    job = Job(id=new_job_id(), task="sample.count", tenant="alpha", created_at=now, updated_at=now)
    with redis.Redis.from_url(stack.redis_url) as client:
        client.hset(keys(stack).job(job.id), mapping=encode(job.model_dump()))
    return json.loads(task_message(keys(stack), job))


def keys(stack: Stack) -> QueueKeys:
    return QueueKeys(stack.namespace, "sample")


def with_body(envelope: dict, body: bytes, content_type: str) -> dict:
    return {**envelope, "body": base64.b64encode(body).decode(), "content-type": content_type}


def pickle_exploit(marker: Path) -> bytes:
    """Unpickled, this calls os.system and leaves the marker behind."""
    return b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."


def yaml_exploit(marker: Path) -> bytes:
    return f"!!python/object/apply:os.system ['touch {marker}']".encode()


def pickled(envelope: dict, marker: Path) -> dict:
    return with_body(envelope, pickle_exploit(marker), "application/x-python-serialize")


def yaml_body(envelope: dict, marker: Path) -> dict:
    return with_body(envelope, yaml_exploit(marker), "application/x-yaml")


def test_the_exploits_are_real_when_decoded(tmp_path) -> None:
    """Else "the marker never appeared" below would prove nothing."""
    pickle.loads(pickle_exploit(tmp_path / "p"))
    yaml.unsafe_load(yaml_exploit(tmp_path / "y"))
    assert (tmp_path / "p").exists()
    assert (tmp_path / "y").exists()


HOSTILE: dict[str, Callable[[dict, Path], str]] = {
    "pickle": lambda envelope, marker: json.dumps(pickled(envelope, marker)),
    "yaml": lambda envelope, marker: json.dumps(yaml_body(envelope, marker)),
    "malformed JSON body": lambda envelope, _: json.dumps(
        with_body(envelope, b'{"args": [', "application/json")
    ),
    "envelope not JSON": lambda envelope, _: "{" + json.dumps(envelope)[:40],
    "envelope without properties": lambda envelope, _: json.dumps({"body": envelope["body"]}),
    "body not base64": lambda envelope, _: json.dumps({**envelope, "body": "%%% not base64"}),
}


def push(stack: Stack, raw: str) -> None:
    with redis.Redis.from_url(stack.redis_url) as client:
        client.lpush(keys(stack).queue_list, raw)


def test_hostile_messages_never_run_and_the_worker_keeps_consuming(sample_stack, tmp_path) -> None:
    worker = sample_stack.processes[0]
    url = sample_stack.worker_metrics["sample"]
    victims = []
    for number, (kind, make) in enumerate(HOSTILE.items(), start=1):
        envelope = envelope_of(sample_stack)
        victims.append(envelope["headers"]["id"])
        marker = tmp_path / f"pwned-{number}"
        push(sample_stack, make(envelope, marker))
        # Counted (whatever name the message claimed), logged, and the worker is still up.
        wait_for_totals(url, {"celery_task_rejected_total": number})
        assert worker.popen is not None
        assert worker.popen.poll() is None, f"the worker died of a {kind} message"
        assert not marker.exists(), f"the {kind} message executed code"

    lines = worker.output().splitlines()
    assert sum("malformed message dropped" in line for line in lines) == 3
    assert sum("Refusing to deserialize untrusted content" in line for line in lines) == 2
    assert sum("Can't decode message body" in line for line in lines) == 1
    for job_id in victims:  # the jobs these spoiled messages named were never run
        assert sample_count(sample_stack, job_id) == 0
        assert read_job(sample_stack, "sample", job_id).status is JobStatus.queued

    good = submit(sample_stack, "sample.count")
    assert wait_status(sample_stack, "sample", good.id, JobStatus.succeeded).result == {"runs": 1}
    # Dropped or refused, none is left in flight for the sweep to put back.
    with redis.Redis.from_url(sample_stack.redis_url) as client:
        assert client.llen(QueueKeys(sample_stack.namespace, "sample").inflight) == 0


def test_a_message_for_an_unknown_task_fails_its_job_into_the_dead_letters(sample_stack) -> None:
    job = submit(sample_stack, "sample.renamed")  # say, a task the deployed workers lack
    failed = wait_status(sample_stack, "sample", job.id, JobStatus.failed)
    assert failed.error == "no worker of this queue knows the task 'sample.renamed'"
    dead = with_ledger(sample_stack, "sample", lambda ledger: ledger.dead_letters(100))
    assert job.id in {letter.id for letter in dead}  # to replay once a worker knows it
    wait_for_totals(
        sample_stack.worker_metrics["sample"],
        {"celery_task_rejected_total": 1},
        name="sample.renamed",
    )


def test_a_message_naming_a_task_its_job_does_not_have_leaves_the_job_alone(
    sample_stack,
) -> None:
    envelope = envelope_of(sample_stack)
    job_id = envelope["headers"]["id"]
    renamed = {**envelope, "headers": {**envelope["headers"], "task": "x.y"}}
    push(sample_stack, json.dumps(renamed))
    url = sample_stack.worker_metrics["sample"]
    wait_for_totals(url, {"celery_task_rejected_total": 1}, name="x.y")
    # The consumer handles messages one by one: once a later job ran, this one was handled.
    later = submit(sample_stack, "sample.count")
    wait_status(sample_stack, "sample", later.id, JobStatus.succeeded)
    assert read_job(sample_stack, "sample", job_id).status is JobStatus.queued
