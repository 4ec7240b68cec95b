"""A real Prometheus for tests, configured by deploy/prometheus/prometheus.yml itself.

The file names the local stack's default ports; a test maps each to where its own process
listens, so the scrape jobs, labels, paths and rules under test are the shipped ones.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.processes import REPO, Process, free_port, require_binary, wait_until

CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"


def local_config(addresses: Mapping[str, str], own_address: str) -> dict[str, Any]:
    """The shipped config with every target moved to ``addresses[target]``; a target the
    test does not map fails here, so the file cannot name a process the stack lacks."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(CONFIG.parent / pattern) for pattern in config["rule_files"]]
    moved = {**addresses, "127.0.0.1:9090": own_address}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [moved[target] for target in static["targets"]]
    return config


class Prometheus:
    def __init__(self, workdir: Path, addresses: Mapping[str, str]) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        address = self.url.removeprefix("http://")
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(local_config(addresses, address)))
        args = [
            require_binary("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address={address}",
        ]
        self.process = Process("prometheus", args, {}, workdir)

    def start(self) -> "Prometheus":
        self.process.start().wait_ready(self._ready)
        return self

    def stop(self) -> None:
        self.process.stop()

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        return response.raise_for_status().json()["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def wait_for_scrapes(self, count: int = 3) -> None:
        """Until every target has been scraped ``count`` more times."""
        first = self._scrape_count()
        wait_until(
            lambda: self._scrape_count() >= first + count,
            timeout=30,
            what=f"{count} more scrapes",
        )

    def _scrape_count(self) -> float:
        result = self.query("min(count_over_time(up[10m]))")
        return float(result[0]["value"][1]) if result else 0.0

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
