"""The domain spreader against a real redis-server: slots are reserved, not refused."""

import uuid

from services.common.ratelimit import SlotReserver


def test_a_burst_on_one_key_is_spread_and_other_keys_are_free(redis_server) -> None:
    with redis_server.client() as client:
        slots = SlotReserver(client, f"t{uuid.uuid4().hex}:", per_second=10)
        delays = [slots.reserve("example.com") for _ in range(5)]
        assert delays[0] == 0
        assert delays == sorted(delays)
        assert delays[4] > 0.3  # the fifth send waits about four slots of 0.1 s
        assert slots.reserve("example.org") == 0
