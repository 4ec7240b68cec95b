"""Queue a job in one script: its idempotency key, the backlog limit, its record and message.

One round trip, and atomic: a submission is either answered by the job its idempotency key
already made, refused because the queue is full, or written whole (record, status count, key
and message together), so "202 was answered" and "the message is queued" are one fact.
"""

from dataclasses import dataclass
from typing import Any

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import encode

# A service submitting to another's queue runs this with its own Redis user: a new command on
# these keys needs a grant in redis_acl.py (tests/security/test_redis_acl.py catches it).
# The job's record is checked first, so a repeat of the same submission (a client retrying on
# a broken connection) queues nothing twice.
# KEYS: job record, status counts, the queue's list, the delayed set[, idempotency key]
# ARGV: backlog limit (0: none), message, release time ('' for now), idempotency value and
#       time to live, then the record's field/value pairs.
SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'queued', ''} end
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'exists', existing} end
end
local limit = tonumber(ARGV[1])
if limit > 0 then
  local backlog = redis.call('ZCARD', KEYS[4]) + redis.call('LLEN', KEYS[3])
  if backlog >= limit then return {'full', tostring(backlog)} end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('HINCRBY', KEYS[2], 'queued', 1)
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[4], 'EX', ARGV[5]) end
if ARGV[3] == '' then
  redis.call('LPUSH', KEYS[3], ARGV[2])
else
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
end
return {'queued', ''}
"""


@dataclass(frozen=True)
class Verdict:
    """``queued``; ``exists`` with the stored "<job id> <body hash>"; ``full`` with the
    backlog's size."""

    kind: str
    detail: str

    @classmethod
    def of(cls, reply: list[Any]) -> "Verdict":
        kind, detail = (part.decode() if isinstance(part, bytes) else part for part in reply)
        return cls(kind, detail)


def enqueue_keys(keys: QueueKeys, job_id: str, idempotency_key: str | None) -> list[str]:
    extra = [idempotency_key] if idempotency_key is not None else []
    return [keys.job(job_id), keys.status_counts, keys.queue_list, keys.delayed, *extra]


def enqueue_args(
    *,
    record: dict[str, Any],
    message: str,
    release_at: float | None,
    max_backlog: int,
    idempotency_value: str = "",
    idempotency_ttl: int = 0,
) -> list[str]:
    pairs = [item for pair in encode(record).items() for item in pair]
    release = repr(release_at) if release_at is not None else ""
    return [str(max_backlog), message, release, idempotency_value, str(idempotency_ttl), *pairs]
