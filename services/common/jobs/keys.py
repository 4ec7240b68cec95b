"""Where a service's queue and ledger live on the shared broker."""

import hashlib
from dataclasses import dataclass

# kombu carries Celery's fanout exchanges (task events, remote control) over pub/sub and listens
# with PSUBSCRIBE, whose pattern an ACL matches literally, never as a glob. The Celery config
# (celery.py) therefore puts each exchange on one channel (no routing-key patterns), named
# without the database number: <prefix>/fanout.<exchange>. kombu strips "/...." up to the first
# dot to find the exchange, hence that shape.
FANOUT_PREFIX = "/fanout."
EVENT_EXCHANGE = "celeryev"
CONTROL_EXCHANGE = "celery"


def inflight_keys(prefix: str, queue: str) -> tuple[str, str]:
    """A queue's in-flight list (messages between a worker's pop and kombu's record of them,
    transport.py) and the hash of when a sweep first saw each there. Also for the transport,
    which knows its key prefix but not the service."""
    return f"{prefix}inflight:{queue}", f"{prefix}inflight-seen:{queue}"


@dataclass(frozen=True)
class QueueKeys:
    """All keys of one service share its prefix, which is also Celery's ``global_keyprefix``.

    A shared broker shares the visibility sweep (celery#7651); a prefix per service keeps one
    service's restore from touching another's messages and gives each a Redis ACL pattern.
    """

    namespace: str
    service: str

    @property
    def prefix(self) -> str:
        return f"{self.namespace}:{self.service}:"

    @property
    def queue(self) -> str:
        return self.service

    @property
    def queue_list(self) -> str:
        """The queue's one list: a single priority step (celery.py), so no ``<list>\\x06\\x16<n>``
        lists beside it (REFERENCE.md)."""
        return self.prefix + self.queue

    @property
    def inflight(self) -> str:
        """Messages a worker has popped and kombu has not yet recorded (transport.py)."""
        return inflight_keys(self.prefix, self.queue)[0]

    @property
    def inflight_seen(self) -> str:
        return inflight_keys(self.prefix, self.queue)[1]

    @property
    def reserved(self) -> str:
        """kombu's hash of delivered, unacknowledged messages (prefixed, so this queue's only)."""
        return self.prefix + "unacked"

    @property
    def status_counts(self) -> str:
        """A hash: how many jobs are queued and running now, how many finished in each way."""
        return self.prefix + "status-counts"

    @property
    def consumers(self) -> str:
        """Workers consuming the queue, scored by their last heartbeat (Redis time)."""
        return self.prefix + "consumers"

    @property
    def channels(self) -> tuple[str, ...]:
        """The pub/sub channels of the service's Celery app (events, remote control)."""
        exchanges = (EVENT_EXCHANGE, f"{CONTROL_EXCHANGE}.pidbox")  # kombu's Mailbox adds .pidbox
        return tuple(f"{self.prefix}{FANOUT_PREFIX}{exchange}" for exchange in exchanges)

    @property
    def dead_letters(self) -> str:
        return self.prefix + "dead"

    @property
    def delayed(self) -> str:
        """Messages due later than a countdown may wait on the queue, scored by due time."""
        return self.prefix + "delayed"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def idempotency(self, tenant: str, key: str) -> str:
        # Hashed so any client string makes a short, safe key.
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.prefix}idem:{tenant}:{digest}"
