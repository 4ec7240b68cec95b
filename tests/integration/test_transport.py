"""The transport's pop: a message is never only in a socket buffer or a dying process.

Hostile messages, the transport's other half, are in tests/chaos/test_hostile_messages.py.
"""

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis
from kombu import Connection, Exchange, Queue
from kombu.message import Message

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import JobStatus, utcnow
from services.common.transport import SWEEP, Transport
from tests.jobs import sample_count, submit, wait_status


def sweep(client: redis.Redis, keys: QueueKeys, grace: float) -> int:
    """One pass of the sweep every worker runs with kombu's restore timer."""
    names = (keys.queue_list, keys.inflight, keys.inflight_seen, keys.reserved)
    return int(client.eval(SWEEP, len(names), *names, grace))


def envelope(tag: str) -> str:
    return json.dumps({"properties": {"delivery_tag": tag}})


def test_the_sweep_puts_back_what_outstayed_its_grace_unless_it_was_recorded(
    redis_server,
) -> None:
    keys = QueueKeys(f"t{uuid.uuid4().hex[:8]}", "sample")
    lost, recorded, garbage = envelope("lost"), envelope("recorded"), "not JSON"
    with redis_server.client() as client:
        client.lpush(keys.inflight, lost, recorded, garbage)
        client.hset(keys.reserved, "recorded", "[]")  # kombu's record: its worker got that far

        assert sweep(client, keys, grace=60) == 0  # first seen now
        assert sweep(client, keys, grace=60) == 0  # not yet a minute
        assert client.llen(keys.inflight) == 3

        assert sweep(client, keys, grace=0) == 2
        # At the tail, where the next pop takes from; the garbage for the worker to drop.
        assert client.lrange(keys.queue_list, 0, -1) == [garbage, lost]
        assert client.llen(keys.inflight) == 0
        assert client.hlen(keys.inflight_seen) == 0  # nothing remembered for what left


def test_each_message_passes_through_the_inflight_list_once(sample_stack) -> None:
    jobs = [submit(sample_stack, "sample.count") for _ in range(20)]
    for job in jobs:
        wait_status(sample_stack, "sample", job.id, JobStatus.succeeded)
    keys = QueueKeys(sample_stack.namespace, "sample")
    with redis.Redis.from_url(sample_stack.redis_url) as client:
        assert client.llen(keys.inflight) == 0
    assert [sample_count(sample_stack, job.id) for job in jobs] == [1] * 20


def test_a_message_whose_worker_died_between_pop_and_record_runs_after_the_grace(
    sample_stack,
) -> None:
    # Waits in the delayed set, away from the worker, until the test moves it to where a
    # worker that died just after its pop would have left it.
    job = submit(sample_stack, "sample.count", release_at=utcnow() + timedelta(days=1))
    keys = QueueKeys(sample_stack.namespace, "sample")
    with redis.Redis.from_url(sample_stack.redis_url) as client:
        [(message, _)] = client.zpopmin(keys.delayed)
        client.lpush(keys.inflight, message)

    assert wait_status(sample_stack, "sample", job.id, JobStatus.succeeded).attempts == 1
    assert sample_count(sample_stack, job.id) == 1


@contextmanager
def reserved_message(redis_server, keys: QueueKeys) -> Iterator[tuple[Connection, Message]]:
    """A message taken from its queue by kombu and recorded as unacknowledged."""
    options = {"global_keyprefix": keys.prefix}
    with Connection(redis_server.url, transport=Transport, transport_options=options) as broker:
        queue = Queue(keys.queue, Exchange(keys.queue, type="direct"), routing_key=keys.queue)
        broker.Producer().publish({"n": 1}, routing_key=keys.queue, declare=[queue])
        message = broker.default_channel.basic_get(keys.queue, no_ack=False)
        assert message is not None
        yield broker, message


def test_a_channel_closed_after_its_connection_was_collected_leaves_its_messages_reserved(
    redis_server,
) -> None:
    keys = QueueKeys(f"t{uuid.uuid4().hex[:8]}", "sample")
    with reserved_message(redis_server, keys) as (_, message):
        # What Celery's collect of a connection lost mid-close leaves: a transport without
        # its connection details, which kombu's restore at close needs.
        message.channel.connection.client = None
        message.channel.close()  # no longer an error that stops the worker
    with redis_server.client() as client:
        assert client.hlen(keys.reserved) == 1  # the visibility timeout delivers it again


def test_a_job_handed_back_through_a_closed_channel_waits_for_the_visibility_timeout(
    redis_server,
) -> None:
    keys = QueueKeys(f"t{uuid.uuid4().hex[:8]}", "sample")
    with reserved_message(redis_server, keys) as (broker, message):
        broker.release()  # the consumer's reconnect after a broker loss
        # Closed while the broker was down, the channel is left without a pool as well.
        message.channel._pool = None
        # As Celery hands a job back: a connection error is logged, anything else stops it.
        message.reject_log_error(logging.getLogger(), broker.connection_errors, requeue=True)
    with redis_server.client() as client:
        # Back in the queue (restored as the channel closed) or reserved: once, either way.
        assert client.llen(keys.queue_list) + client.hlen(keys.reserved) == 1
