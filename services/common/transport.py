"""The Redis transport, hardened: no message is lost between the queue and the worker, and
none that nobody should have pushed stops it.

In flight. kombu pops with BRPOP and records the message as unacknowledged with a second
command: a worker (or redis-server) that dies between the two loses the message, and its job
stays "queued". Here a worker moves the message with BLMOVE into the queue's in-flight list,
atomically, and takes it out once kombu has recorded it. A message left there longer than
``inflight_grace`` is put back at the head of its queue by the sweep every worker runs with
kombu's own restore timer. BLMOVE takes one list, so each queue has one priority step.

Hostile messages. Anyone who can push to a queue list can push anything. Celery refuses
pickle and YAML bodies (accept_content), unknown task names and bodies that are not JSON, but
two kinds of envelope get past it and stop the worker: one that is not JSON at all kills it
with an "Unrecoverable error" in the pop's reader, and one without kombu's fields breaks the
message class. Both are dropped here, logged and counted, and the worker goes on consuming.

Selected with Celery's ``broker_transport`` setting; the broker URL stays ``redis://``.
"""

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from queue import Empty
from time import monotonic
from typing import Any

import structlog
from kombu.transport import redis
from kombu.utils.json import loads
from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.jobs.keys import inflight_keys
from services.common.metrics import TASKS_REJECTED

log = structlog.get_logger(__name__)

# Puts back what has sat in the in-flight list for the grace period. First-seen times are kept
# in a hash, on Redis's clock, so any number of workers may sweep at once. A message already
# recorded as unacknowledged (its worker died between the two steps) is only taken out: the
# visibility timeout redelivers it.
# KEYS: the queue's list, its in-flight list, their first-seen hash, kombu's unacked hash;
# ARGV: the grace period in seconds.
SWEEP = """
local now = tonumber(redis.call('TIME')[1])
local waiting, restored = {}, 0
for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local seen = tonumber(redis.call('HGET', KEYS[3], item))
  if not seen then
    redis.call('HSET', KEYS[3], item, now)
    waiting[item] = true
  elseif now - seen < tonumber(ARGV[1]) then
    waiting[item] = true
  else
    redis.call('LREM', KEYS[2], 1, item)
    local ok, envelope = pcall(cjson.decode, item)
    local tag = ok and type(envelope) == 'table' and type(envelope.properties) == 'table'
      and envelope.properties.delivery_tag
    if type(tag) ~= 'string' or redis.call('HEXISTS', KEYS[4], tag) == 0 then
      redis.call('RPUSH', KEYS[1], item)
      restored = restored + 1
    end
  end
end
for _, item in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not waiting[item] then redis.call('HDEL', KEYS[3], item) end
end
return restored
"""


def unusable(envelope: Any) -> str | None:
    """Why kombu could not make a message of ``envelope``; None when it can."""
    if not isinstance(envelope, dict):
        return "the envelope is not a JSON object"
    properties = envelope.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no properties"
    body, encoding = envelope.get("body", ""), properties.get("body_encoding")
    checks = (
        (isinstance(properties.get("delivery_tag"), str), "delivery tag is missing"),
        (isinstance(properties.get("delivery_info", {}), dict), "delivery info is not an object"),
        (isinstance(envelope.get("headers", {}), dict), "headers are not an object"),
        (_decodable(body, encoding), "body is unreadable"),
    )
    return next((f"the envelope's {reason}" for passed, reason in checks if not passed), None)


def _decodable(body: Any, encoding: Any) -> bool:
    if not isinstance(body, str):
        return False
    if encoding == "base64":
        try:
            base64.b64decode(body, validate=True)
        except binascii.Error:
            return False
        return True
    return encoding in (None, "utf-8")


def _drop(queue: str, reason: str) -> None:
    # The content is not logged: it is whatever someone pushed, secrets included.
    log.error("malformed message dropped", queue=queue, reason=reason)
    TASKS_REJECTED.labels("unknown", queue).inc()


class QoS(redis.QoS):
    channel: "Channel"

    def restore_unacked_once(self, stderr: Any = None) -> None:
        # Run as the channel closes, after a broker loss too (Celery collects the dead
        # connection, which can stop halfway, then closes it): a connection error here would
        # stop the worker. The messages are still in the unacked hash: the visibility timeout
        # delivers them again.
        try:
            super().restore_unacked_once(stderr)
        except self.channel.connection_errors as exc:
            log.warning("reserved messages left to the visibility timeout", error=repr(exc))

    @contextmanager
    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Iterator[Any]:
        with super().pipe_or_acquire(pipe, client) as acquired:
            # The pipeline kombu records a delivery with (append) also takes the message out
            # of the in-flight list: one transaction, one round trip fewer per job.
            recorded = self.channel.take_popped()
            if recorded is not None:
                acquired.lrem(*recorded)
            yield acquired

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        self.channel.restore_inflight()
        super().restore_visible(*args, **kwargs)


class Channel(redis.Channel):
    QoS = QoS
    inflight_grace = 30.0
    from_transport_options = (*redis.Channel.from_transport_options, "inflight_grace")
    _popping = ""
    # The in-flight list and the message just popped into it, until kombu records it.
    _popped: tuple[str, int, bytes] | None = None
    _pooled: Any = None  # the client conn_or_acquire hands out
    # kombu's own, left out of its type stubs (celery-types).
    connection: Any
    _pool: Any
    _create_client: Callable[[], Any]
    _queue_cycle: Any
    connection_errors: tuple[type[Exception], ...]
    _flush_brpop_reauth: Callable[[], None]

    def _brpop_start(self, timeout: float | None = None) -> None:
        queues = self._queue_cycle.consume(1)  # one list per BLMOVE: queues take turns
        if not queues:
            return
        self._popping = queues[0]
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()
        wait = self.brpop_timeout if timeout is None else timeout
        source, inflight = self._keys(self._popping)[:2]
        self.client.connection.send_command("BLMOVE", source, inflight, "RIGHT", "LEFT", wait or 0)

    def _brpop_read(self, **options: Any) -> bool:
        queue = self._popping
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # the next poll reconnects
                raise
            if item is None:
                raise Empty()
            self._queue_cycle.rotate(queue)
            self._popped = (self._keys(queue)[1], 1, item)
            try:
                envelope = loads(item)
            except ValueError:  # not JSON, or not even UTF-8
                _drop(queue, "not JSON")
            else:
                self.connection._deliver(envelope, queue)
            finally:
                # Still here when kombu did not record it: dropped, or the delivery failed
                # (the message then stays in flight for the sweep).
                unrecorded = self.take_popped()
            if unrecorded is not None:  # dropped: no longer in flight either
                self.client.lrem(*unrecorded)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _lookup(self, exchange: str, routing_key: str, default: str | None = None) -> list[str]:
        # A job handed back (rejected with requeue) after a broker outage is restored through
        # the channel that delivered it, closed by then: kombu's lookup fails on its cleared
        # exchange table, logs "Could not restore message" and drops it from the unacked hash
        # unqueued. Each exchange is direct and routes to the queue of its name (celery.py).
        if self.exchange_types is None:
            return [routing_key]
        return list(super()._lookup(exchange, routing_key, default))

    def take_popped(self) -> tuple[str, int, bytes] | None:
        popped, self._popped = self._popped, None
        return popped

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        with super().conn_or_acquire(client or self._pooled_client()) as acquired:
            yield acquired

    def _pooled_client(self) -> Any:
        # After a broker loss, a job handed back or a restore at close can still run through
        # the closed channel. Without a pool and a transport to make one, kombu fails with an
        # AttributeError that stops the worker. As a connection error it is logged instead,
        # and the message waits in the unacked hash for the visibility timeout.
        detached = self.connection is None or self.connection.client is None
        if self._pool is None and detached:
            raise RedisConnectionError("the channel was closed with its broker connection")
        # kombu builds a client object (and its table of reply callbacks) for every delivery
        # and every ack; one over the same pool serves them all.
        if self._pooled is None or self._pooled.connection_pool is not self.pool:
            self._pooled = self._create_client()
        return self._pooled

    def restore_inflight(self) -> int:
        """Put back the messages workers popped and never recorded; how many."""
        unacked = self.global_keyprefix + self.unacked_key
        with self.conn_or_acquire() as client:
            return sum(
                int(client.eval(SWEEP, 4, *self._keys(queue), unacked, self.inflight_grace))
                for queue in self.active_queues
            )

    def _keys(self, queue: str) -> tuple[str, str, str]:
        """The queue's list, its in-flight list and their first-seen hash, prefixed by hand:
        kombu's prefixing client leaves BLMOVE, LREM and EVAL alone."""
        return (self.global_keyprefix + queue, *inflight_keys(self.global_keyprefix, queue))


class Transport(redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        reason = unusable(message)
        if reason is None:
            super()._deliver(message, queue)
        else:
            _drop(queue or "", reason)
