"""`make bench`: each figure a ratio of two things measured side by side in this one run.

Quick by default; BENCH_FULL=1 for the large sizes. Prints a table and writes
bench/results/latest.json with the figures, ratios, machine and versions.
"""

import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import drain, enqueue, ingest, latency, mail, memory, reports
from bench.machine import machine
from services.common.logging import configure_logging
from tests.conftest import RedisServer, postgres_schema
from tests.processes import BIN, REPO, Process, free_port
from tests.smtp import SmtpServer
from tests.stack import Stack, answers

KEY = "bench-key"
FULL = os.environ.get("BENCH_FULL") == "1"
SIZES = {
    "seconds": 10 if FULL else 5,
    "connections": 16,
    "drain_jobs": 20_000 if FULL else 4_000,
    "latency_jobs": 500 if FULL else 100,
    "mail_messages": 5_000 if FULL else 2_000,
    "queued_jobs": 1_000_000 if FULL else 50_000,
    "ingest_rows": 1_000_000 if FULL else 100_000,
    "report_rows": 1_000_000 if FULL else 100_000,
}
DATABASES = ("sqlite", "postgresql")
# (row of the table, the measurement, its value's key, goal as text, passes?)
GOALS: list[tuple[str, str, str, str, Any]] = [
    ("enqueue ratio", "enqueue ratio", "ratio", ">= 0.7", lambda r: r >= 0.7),
    ("enqueue vs peer", "enqueue vs peer", "ratio", ">= 1.0", lambda r: r >= 1.0),
    ("enqueue vs textbook", "enqueue vs textbook", "ratio", "report", None),
    ("worker drain", "worker drain", "ratio", ">= 0.8", lambda r: r >= 0.8),
    ("latency p50", "latency", "p50_ratio", "report", None),
    ("latency p99", "latency", "p99_ratio", "report", None),
    ("email", "email", "ratio", ">= 0.7", lambda r: r >= 0.7),
    *(
        (f"{figure} {database}", f"{figure} {database}", "ratio", ">= 0.5", lambda r: r >= 0.5)
        for figure in ("ingest", "reports")
        for database in DATABASES
    ),
    ("memory bytes/job", "memory", "bytes_per_job", "<= 2048", lambda r: r <= 2048),
    ("memory p99 deep/empty", "memory", "p99_ratio", "<= 1.5", lambda r: r <= 1.5),
]


def stack(redis: RedisServer, workdir: Path, database_url: str = "", **env: str) -> Stack:
    return Stack(
        redis.url,
        database_url or f"sqlite:///{workdir / 'bench.db'}",
        workdir,
        extra_env={
            "TASKYARD_API_KEYS": f"bench:{KEY}",
            "TASKYARD_MAX_BACKLOG": "0",
            "TASKYARD_LOG_LEVEL": "WARNING",
            **env,
        },
    )


def textbook_api(redis: RedisServer, workdir: Path, stacks: Stack) -> str:
    port = free_port()
    args = [str(BIN / "uvicorn"), "bench.textbook:api", "--port", str(port), "--no-access-log"]
    process = Process(f"textbook-api-{port}", args, {"REDIS_URL": redis.url}, workdir)
    stacks.processes.append(process)
    url = f"http://127.0.0.1:{port}"
    process.start().wait_ready(lambda: answers(f"{url}/docs"))
    return url


def data_figures(redis: RedisServer, workdir: Path, database: str, url: str) -> dict[str, Any]:
    """Ingest and reports on one database, each against the same work done on it directly."""
    on = stack(redis, workdir, url)
    try:
        on.worker("ingest")
        on.worker("reports")
        loaded = ingest.ingest_ratio(on.api("ingest"), KEY, url, SIZES["ingest_rows"])
        reported = reports.reports_ratio(on.api("reports"), KEY, url, SIZES["report_rows"])
    finally:
        on.stop()
    return {f"ingest {database}": loaded, f"reports {database}": reported}


def measure(workdir: Path, postgres_url: str) -> dict[str, Any]:
    os.environ["GATEWAY_RATE_LIMIT_AVERAGE"] = os.environ["GATEWAY_RATE_LIMIT_BURST"] = "1000000"
    figures: dict[str, Any] = {}
    with ExitStack() as running:
        # The production setting: an fsync a second, not one per write.
        redis = RedisServer(workdir / "redis", appendfsync="everysec").start()
        running.callback(redis.stop)
        sink = SmtpServer().start()
        running.callback(sink.stop)
        front = stack(redis, workdir)
        running.callback(front.stop)
        front.api("email")
        front.api("ingest")
        front.worker("ingest")
        gateway = front.gateway(**front.apis)
        seconds, connections = SIZES["seconds"], SIZES["connections"]
        figures["enqueue ratio"] = enqueue.gateway_ratio(gateway, KEY, seconds, connections)
        figures["enqueue vs textbook"] = enqueue.textbook_ratio(
            front.apis["email"], textbook_api(redis, workdir, front), KEY, seconds, connections
        )
        figures["enqueue vs peer"] = enqueue.peer_ratio(redis.url, seconds, connections)
        figures["worker drain"] = drain.drain_ratio(front, workdir, SIZES["drain_jobs"])
        figures["latency"] = latency.latency_ratio(
            gateway, KEY, SIZES["latency_jobs"], per_second=20
        )
        # No per-domain rate: the smtplib loop has none, and every mail goes to one domain.
        sending = stack(redis, workdir, SMTP_URL=sink.url, TASKYARD_EMAIL_DOMAIN_RATE="0")
        running.callback(sending.stop)
        sending.api("email")
        figures["email"] = mail.mail_ratio(sending, KEY, sink, SIZES["mail_messages"])
        figures |= data_figures(redis, workdir, "sqlite", f"sqlite:///{workdir / 'data.db'}")
        figures |= data_figures(redis, workdir, "postgresql", postgres_url)
        # Last: it leaves its queue, up to a million jobs, in Redis.
        figures["memory"] = memory.memory(redis.url, f"mem{int(time.time())}", SIZES["queued_jobs"])
    return figures


def report(figures: dict[str, Any]) -> None:
    table = Table(title="Taskyard benchmark" + (" (full)" if FULL else " (quick)"))
    for column in ("figure", "value", "goal", "met"):
        table.add_column(column)
    for row, measurement, key, goal, passes in GOALS:
        value = figures[measurement][key]
        met = "-" if passes is None else ("yes" if passes(value) else "NO")
        table.add_row(row, f"{value:.2f}", goal, met)
    Console().print(table)


def main() -> None:
    # The in-process submit loops log nothing per job, as a production API at WARNING would.
    configure_logging("bench", log_format="console", level="WARNING")
    about = machine()  # before the load: whether the machine was busy already
    # PostgreSQL first: a missing one fails now, not after every other figure.
    with tempfile.TemporaryDirectory(prefix="taskyard-bench-") as folder, postgres_schema() as url:
        figures = measure(Path(folder), url)
    report(figures)
    results = {
        "full": FULL,
        "sizes": SIZES,
        "machine": about,
        "figures": figures,
        "goals": {
            row: {"figure": measurement, "key": key, "goal": goal}
            for row, measurement, key, goal, _ in GOALS
        },
    }
    out = REPO / "bench" / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
