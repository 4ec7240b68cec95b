"""A rate shared by every worker replica: each caller reserves the next free slot on a key.

Generic cell-rate reservation kept in Redis (one Lua script, the broker's clock), so a burst
is spread out in time rather than refused.
"""

import redis

_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(next_free, now)
local until_ms = math.ceil((slot + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', until_ms)
return tostring(slot - now)
"""


class SlotReserver:
    def __init__(self, client: redis.Redis, prefix: str, per_second: float) -> None:
        self.prefix = prefix
        self.interval = 1.0 / per_second
        self._reserve = client.register_script(_RESERVE)

    def reserve(self, key: str) -> float:
        """Seconds to wait before the reserved slot on ``key`` begins (0 when free now)."""
        return float(self._reserve(keys=[self.prefix + key], args=[self.interval]))
