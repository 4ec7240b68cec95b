"""POST to succeeded for a trivial job at a fixed, moderate rate, against the gateway's own
round trip. The job's finish time is the worker's clock, which is this machine's."""

import statistics
import time
from datetime import datetime

import httpx

from tests.processes import wait_until

RECORD = {"name": "ping", "records": [{"n": 1}]}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def latency_ratio(gateway: str, key: str, jobs: int, per_second: float) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    sent: dict[str, float] = {}
    health: list[float] = []
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for _ in range(jobs):
            tick = time.time()
            client.get("/ingest/healthz").raise_for_status()
            health.append(time.time() - tick)
            tick = time.time()
            answer = client.post("/ingest/datasets", json=RECORD, headers=headers)
            answer.raise_for_status()
            sent[answer.headers["Location"]] = tick
            time.sleep(max(0.0, 1 / per_second - (time.time() - tick)))

        finished: dict[str, float] = {}

        def all_finished() -> bool:
            for location in set(sent) - set(finished):
                view = client.get(location, headers=headers).json()
                if view["status"] == "succeeded":
                    finished[location] = datetime.fromisoformat(view["finished_at"]).timestamp()
            return len(finished) == len(sent)

        wait_until(all_finished, timeout=120, what="every job to succeed")
    took = [finished[location] - sent[location] for location in sent]
    p50, p99 = _percentiles(took)
    h50, h99 = _percentiles(health)
    return {
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "healthz_p50_ms": h50 * 1000,
        "healthz_p99_ms": h99 * 1000,
        "p50_ratio": p50 / h50,
        "p99_ratio": p99 / h99,
    }
