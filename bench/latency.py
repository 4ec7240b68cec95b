"""POST to succeeded for a trivial job at a fixed, moderate rate, against the gateway's own
round trip. The job's finish time is the worker's clock, which is this machine's."""

import statistics
import time

import httpx

from bench.workload import timed_job

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
            turn = time.time()
            client.get("/ingest/healthz").raise_for_status()
            health.append(time.time() - turn)
            tick = time.time()
            answer = client.post("/ingest/datasets", json=RECORD, headers=headers)
            answer.raise_for_status()
            sent[answer.headers["Location"]] = tick
            time.sleep(max(0.0, 1 / per_second - (time.time() - turn)))

        took = [timed_job(client, tick, location, headers)[0] for location, tick in sent.items()]
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
