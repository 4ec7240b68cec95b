"""The real stack for tests: APIs under uvicorn, Celery workers, the Traefik gateway.

Each stack has its own key namespace, so stacks sharing one redis-server never consume each
other's jobs.
"""

import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.processes import BIN, REPO, Process, free_port, wait_until

API_KEYS = "alpha:alpha-key,beta:beta-key,ops:ops-key:admin"
# The queues the code has, one per service with a worker.
QUEUES = sorted(path.parent.name for path in (REPO / "services").glob("*/worker.py"))
# `make run`'s defaults (NAME ?= value): the ports deploy/prometheus/prometheus.yml names.
MAKEFILE_DEFAULTS = dict(
    re.findall(r"^([A-Z_]+) \?= (\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
)
ALPHA = {"Authorization": "Bearer alpha-key"}
BETA = {"Authorization": "Bearer beta-key"}
OPS = {"Authorization": "Bearer ops-key"}


@dataclass
class Stack:
    redis_url: str
    database_url: str
    workdir: Path
    namespace: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    processes: list[Process] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    # A service's own broker URL (its own Redis user, say); redis_url for the rest.
    redis_urls: dict[str, str] = field(default_factory=dict)
    gateway_url: str = ""
    gateway_ops_url: str = ""
    queue_metrics_url: str = ""
    # By service: each API's URL, each worker's /metrics (the latest worker started for it).
    apis: dict[str, str] = field(default_factory=dict)
    worker_metrics: dict[str, str] = field(default_factory=dict)
    flowers: dict[str, str] = field(default_factory=dict)

    def env(self, service: str = "", **extra: str) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_urls.get(service, self.redis_url),
            "DATABASE_URL": self.database_url,
            "TASKYARD_API_KEYS": API_KEYS,
            "TASKYARD_KEY_NAMESPACE": self.namespace,
            "TASKYARD_LOG_FORMAT": "json",
            **self.extra_env,
            **extra,
        }

    def api(self, service: str) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # The gateway strips /<service>; the root path puts it back into /docs and Location.
        args = [str(BIN / "uvicorn"), "--factory", f"services.{service}.api:create_app"]
        args += ["--root-path", f"/{service}"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        process = Process(
            f"{service}-api-{port}", [*args, "--no-server-header"], self.env(service), self.workdir
        )
        self._launch(process, lambda: answers(f"{url}/healthz"))
        self.apis[service] = url
        return url

    def worker(self, service: str, concurrency: int = 2, app: str = "") -> Process:
        name = f"{service}-worker-{uuid.uuid4().hex[:6]}"
        heartbeat = self.workdir / f"{name}.heartbeat"
        app = app or f"services.{service}.worker"
        args = [str(BIN / "celery"), "-A", app, "worker", "-Q", service]
        args += ["-c", str(concurrency), "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]
        metrics_port = free_port()
        env = self.env(
            service,
            TASKYARD_WORKER_HEARTBEAT_FILE=str(heartbeat),
            TASKYARD_WORKER_METRICS_PORT=str(metrics_port),
            PROMETHEUS_MULTIPROC_DIR=str(self.workdir / f"{name}.metrics"),
        )
        process = Process(name, [*args, "-l", "INFO"], env, self.workdir)
        self._launch(process, heartbeat.exists)
        self.worker_metrics[service] = f"http://127.0.0.1:{metrics_port}/metrics"
        return process

    def every_service(self, concurrency: int = 2) -> None:
        """Each service's API and worker, and the reports beat."""
        for queue in QUEUES:
            self.api(queue)
            self.worker(queue, concurrency)
        self.beat("reports")

    def queue_exporter(self, *queues: str) -> str:
        """The exporter of every named queue's figures; returns its /metrics URL."""
        port = free_port()
        args = [sys.executable, "-m", "services.common.queue_metrics", *queues, "--port", str(port)]
        url = f"http://127.0.0.1:{port}/metrics"
        process = Process(f"queue-exporter-{port}", args, self.env(), self.workdir)
        self._launch(process, lambda: answers(url))
        return url

    def beat(self, service: str) -> Process:
        """The service's beat, ready once it holds RedBeat's lock in Redis."""
        name = f"{service}-beat-{uuid.uuid4().hex[:6]}"
        args = [
            str(BIN / "celery"),
            "-A",
            f"services.{service}.worker",
            "beat",
            "--pidfile=",
            "-l",
            "INFO",
        ]
        process = Process(name, args, self.env(service), self.workdir)
        lock = f"{self.namespace}:{service}:redbeat::lock"

        def locked() -> bool:
            with redis.Redis.from_url(self.redis_url) as client:
                return bool(client.exists(lock))

        self._launch(process, locked)
        return process

    def flower(self, service: str) -> str:
        """Flower for one service's queue, under the gateway's /flower/<service> prefix."""
        port = free_port()
        args = [str(BIN / "celery"), "-A", f"services.{service}.worker", "flower"]
        args += ["--address=127.0.0.1", f"--port={port}", f"--url_prefix=flower/{service}"]
        url = f"http://127.0.0.1:{port}"
        process = Process(f"{service}-flower-{port}", args, self.env(service), self.workdir)
        self._launch(process, lambda: answers(f"{url}/flower/{service}/healthcheck"))
        self.flowers[service] = url
        return url

    def gateway(self, **backends: str) -> str:
        """Traefik in front of ``backends`` (ingest=URL, flower_ingest=URL, ...)."""
        port, ops = free_port(), free_port()
        self.gateway_ops_url = f"http://127.0.0.1:{ops}"
        env = {
            "GATEWAY_PORT": str(port),
            "GATEWAY_METRICS_PORT": str(ops),
            "GATEWAY_STATE_DIR": str(self.workdir / f"gateway-{port}"),
            **{f"TASKYARD_{name.upper()}_URL": url for name, url in backends.items()},
        }
        process = Process(
            f"gateway-{port}", [sys.executable, "-m", "gateway.launch"], env, self.workdir
        )
        url = f"http://127.0.0.1:{port}"
        first = next(iter(backends))
        self._launch(process, lambda: answers(f"{url}/{first}/healthz"))
        return url

    def _launch(self, process: Process, ready: Callable[[], bool]) -> None:
        self.processes.append(process)  # first: one that never gets ready is stopped too
        process.start().wait_ready(ready)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def csv_body(rows: int, start: int = 0) -> bytes:
    lines = ["id,city,amount"] + [f"{i},city-{i % 7},{i * 1.5}" for i in range(start, start + rows)]
    return ("\n".join(lines) + "\n").encode()


def upload_dataset(client: httpx.Client, name: str, rows: int) -> str:
    """Upload ``rows`` lines of csv_body through the gateway as tenant alpha; the dataset id
    once it is stored."""
    upload = client.post(
        "/ingest/datasets",
        params={"name": name, "columns": "amount:number"},
        content=csv_body(rows),
        headers={**ALPHA, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 202, upload.text
    dataset = wait_for_job(client, upload.headers["Location"], ALPHA)
    assert dataset["status"] == "succeeded", dataset
    return str(dataset["id"])


def wait_for_job(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    timeout: float = 60,
    interval: float = 0.05,
) -> dict:
    """Poll a job's location until it finishes; returns its last view."""
    seen: dict = {}

    def finished() -> bool:
        seen.update(client.get(url, headers=headers).raise_for_status().json())
        return seen["status"] in ("succeeded", "failed", "cancelled")

    wait_until(finished, timeout=timeout, what=f"{url} to finish", interval=interval)
    return seen


def wait_for_flower_to_count_a_mail(gateway: httpx.Client, flower: str) -> None:
    """Mail through ``gateway`` until email's Flower counts one sent: workers send task events
    only once a Flower has asked for them (celery.py), which it does every few seconds."""
    metrics = f"{flower}/flower/email/metrics"
    mail = {"to": ["flo@example.com"], "template": "welcome", "variables": {"name": "Flo"}}

    def counted() -> bool:
        sent = gateway.post("/email/messages", json=mail, headers=ALPHA)
        wait_for_job(gateway, sent.headers["Location"], ALPHA)
        return 'type="task-succeeded"' in httpx.get(metrics, timeout=10).text

    wait_until(counted, timeout=60, what="email's Flower to count a mail sent", interval=1)
