"""A compare-and-set on a job's status, shared by the APIs (async) and workers (sync).

One Lua script so that "only if still running" holds against a concurrent cancel: a worker
never overwrites a cancellation, and a cancel never reopens a finished job. The same script
keeps the queue's status counts (keys.status_counts): open statuses are counted up and down,
finished ones only up, since finished records expire. Asked to, it returns the record as
changed, which saves a worker starting a job a second round trip.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import JobStatus, encode

SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, false} end
if not string.find(ARGV[1], ',' .. status .. ',', 1, true) then return {0, status} end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[2], 1) end
if ARGV[3] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if ARGV[5] ~= '' and ARGV[5] ~= status then
  if status == 'queued' or status == 'running' then redis.call('HINCRBY', KEYS[2], status, -1) end
  redis.call('HINCRBY', KEYS[2], ARGV[5], 1)
end
if KEYS[3] then redis.call('ZADD', KEYS[3], ARGV[4], redis.call('HGET', KEYS[1], 'id')) end
if ARGV[6] == '1' then return {1, status, redis.call('HGETALL', KEYS[1])} end
return {1, status}
"""


@dataclass(frozen=True)
class Outcome:
    applied: bool
    previous: JobStatus | None
    # The record after the change, when asked for and applied.
    record: dict[str, str] | None = None


def script_args(
    *,
    allowed: Iterable[JobStatus],
    fields: dict[str, Any],
    increment: str = "",
    expire_seconds: int = 0,
    score: float = 0.0,
    return_record: bool = False,
) -> list[str]:
    pairs = [item for pair in encode(fields).items() for item in pair]
    allowed_list = "," + ",".join(allowed) + ","
    new_status = str(fields.get("status", ""))
    flag = "1" if return_record else ""
    return [allowed_list, increment, str(expire_seconds), repr(score), new_status, flag, *pairs]


def script_keys(keys: QueueKeys, job_id: str, dead_letter: bool = False) -> list[str]:
    return [keys.job(job_id), keys.status_counts] + ([keys.dead_letters] if dead_letter else [])


def outcome(reply: list[Any]) -> Outcome:
    applied, previous, *changed = reply
    status = previous.decode() if isinstance(previous, bytes) else previous
    record = dict(zip(changed[0][::2], changed[0][1::2], strict=True)) if changed else None
    return Outcome(bool(applied), JobStatus(status) if status else None, record)
