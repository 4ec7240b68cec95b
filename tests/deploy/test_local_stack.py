"""`make run`'s pieces agree with each other and with the code: every queue has its processes
in the Procfile, and deploy/prometheus/prometheus.yml scrapes each on the Makefile's ports."""

import yaml

from tests.processes import REPO
from tests.stack import MAKEFILE_DEFAULTS, QUEUES

PROCFILE = dict(
    line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip()
)


def scrape_targets() -> dict[str, set[tuple[str, str, str]]]:
    """job -> {(address, service label, metrics path)}."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    found: dict[str, set[tuple[str, str, str]]] = {}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            labels = static.get("labels", {})
            for target in static["targets"]:
                entry = (target, labels.get("service", ""), labels.get("__metrics_path__", ""))
                found.setdefault(job["job_name"], set()).add(entry)
    return found


def port(name: str) -> str:
    return f"127.0.0.1:{MAKEFILE_DEFAULTS[name]}"


def test_every_queue_has_its_processes_in_the_procfile() -> None:
    for queue in QUEUES:
        assert f"services.{queue}.api:create_app" in PROCFILE[f"{queue}-api"]
        assert f"-A services.{queue}.worker worker -Q {queue}" in PROCFILE[f"{queue}-worker"]
        assert f"--url_prefix=flower/{queue}" in PROCFILE[f"flower-{queue}"]
    assert set(QUEUES) <= set(PROCFILE["queue-exporter"].split())


def test_prometheus_scrapes_every_process_on_the_makefile_ports() -> None:
    targets = scrape_targets()
    for queue in QUEUES:
        upper = queue.upper()
        assert (port(f"{upper}_PORT"), "", "") in targets["taskyard-api"]
        assert (port(f"{upper}_WORKER_METRICS_PORT"), queue, "") in targets["taskyard-worker"]
        flower = (port(f"FLOWER_{upper}_PORT"), queue, f"/flower/{queue}/metrics")
        assert flower in targets["flower"]
    assert targets["taskyard-queues"] == {(port("QUEUE_EXPORTER_PORT"), "", "")}
    assert targets["redis"] == {(port("REDIS_EXPORTER_PORT"), "", "")}
    assert targets["traefik"] == {(port("GATEWAY_METRICS_PORT"), "", "")}
    assert targets["prometheus"] == {(port("PROMETHEUS_PORT"), "", "")}
