"""Redis clients for the shared broker that fail fast instead of hanging or retrying.

redis-py retries three times with backoff by default; an API must answer 503 within a
second when the broker is down, so these clients time out quickly and retry once, at once, and
only a broken connection: after a broker restart each pooled connection is dead, and the retry
reconnects instead of failing a request per connection. A timeout is never retried, and every
command sent through these clients is safe to repeat (enqueue.py, transition.py).
"""

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.common.settings import Settings

# Out of memory (noeviction) and read-only (a replica after failover) refuse writes for a while:
# to a client that is the same as unreachable.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


def async_client(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url,
        retry=AsyncRetry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        **_options(settings),
    )


def sync_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        **_options(settings),
    )


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_socket_timeout,
        "decode_responses": True,
        "health_check_interval": 30,
    }
