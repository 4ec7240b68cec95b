"""A compare-and-set on a job's status, shared by the APIs (async) and workers (sync).

One Lua script so that "only if still running" holds against a concurrent cancel: a worker
never overwrites a cancellation, and a cancel never reopens a finished job.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.common.jobs.model import JobStatus, encode

SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, false} end
if not string.find(ARGV[1], ',' .. status .. ',', 1, true) then return {0, status} end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[2], 1) end
if ARGV[3] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if KEYS[2] then redis.call('ZADD', KEYS[2], ARGV[4], redis.call('HGET', KEYS[1], 'id')) end
return {1, status}
"""


@dataclass(frozen=True)
class Outcome:
    applied: bool
    previous: JobStatus | None


def script_args(
    *,
    allowed: Iterable[JobStatus],
    fields: dict[str, Any],
    increment: str = "",
    expire_seconds: int = 0,
    score: float = 0.0,
) -> list[str]:
    pairs = [item for pair in encode(fields).items() for item in pair]
    allowed_list = "," + ",".join(allowed) + ","
    return [allowed_list, increment, str(expire_seconds), repr(score), *pairs]


def outcome(reply: list[Any]) -> Outcome:
    applied, previous = reply
    status = previous.decode() if isinstance(previous, bytes) else previous
    return Outcome(applied=bool(applied), previous=JobStatus(status) if status else None)
