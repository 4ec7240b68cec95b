"""Release delayed messages whose time has come onto their queue.

Called by one beat schedule per service. ZREM decides who moves a message, inside one Lua
script, so two releasers running at once (two beats during a failover) still queue it once.
"""

import redis

from services.common.jobs.keys import QueueKeys

_RELEASE = """
local now = redis.call('TIME')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now[1], 'LIMIT', 0, ARGV[1])
for _, message in ipairs(due) do
  if redis.call('ZREM', KEYS[1], message) == 1 then
    redis.call('LPUSH', KEYS[2], message)
  end
end
return #due
"""


def release_due(client: redis.Redis, keys: QueueKeys, batch: int = 500) -> int:
    """Queue up to ``batch`` due messages; returns how many were due."""
    released = client.eval(_RELEASE, 2, keys.delayed, keys.queue_list, batch)
    return int(released)
