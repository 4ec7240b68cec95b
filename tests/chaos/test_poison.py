"""Poison jobs amid a stream of good ones: each poison ends in the dead letters after its
attempts, the good jobs keep flowing, and a replay works once the cause is fixed."""

import pytest
import redis

from services.common.jobs.model import JobStatus
from tests.jobs import sample_count, submit, wait_status, with_ledger


@pytest.mark.timeout(180)
def test_poison_jobs_are_dead_lettered_while_the_stream_flows_and_replay_after_a_fix(
    stack_on, redis_server
) -> None:
    stack = stack_on(redis_server.url)  # three attempts (chaos/conftest.py)
    stack.worker("sample", app="tests.sample_app")
    killer = submit(stack, "sample.poison")  # kills its process on every attempt
    failing = submit(stack, "sample.fragile")  # raises until the cause is fixed
    stream = [submit(stack, "sample.count") for _ in range(30)]

    for job in stream:
        assert wait_status(stack, "sample", job.id, JobStatus.succeeded).result == {"runs": 1}
    poisoned = wait_status(stack, "sample", killer.id, JobStatus.failed)
    assert poisoned.error == "gave up after 3 attempts that never finished"
    assert sample_count(stack, killer.id) == 3
    assert wait_status(stack, "sample", failing.id, JobStatus.failed).error == (
        "ValueError: the cause is not fixed yet"
    )
    dead = with_ledger(stack, "sample", lambda ledger: ledger.dead_letters(100))
    assert {letter.id for letter in dead} == {killer.id, failing.id}

    with redis.Redis.from_url(stack.redis_url) as client:
        client.set(f"{stack.namespace}:sample-test:fixed", 1)  # the fix is deployed
    assert with_ledger(stack, "sample", lambda ledger: ledger.replay(failing.id)) is not None
    assert wait_status(stack, "sample", failing.id, JobStatus.succeeded).result == {"fixed": True}
    assert with_ledger(stack, "sample", lambda ledger: ledger.replay(failing.id)) is None
