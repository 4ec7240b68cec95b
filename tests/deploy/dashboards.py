"""The Grafana dashboards as data: every panel's query, runnable once its variables are set."""

import json
import re
from pathlib import Path
from typing import Any

from tests.processes import REPO

DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"

Dashboard = dict[str, Any]
Panel = dict[str, Any]

# `$name` or `${name}`, the two forms Grafana interpolates in a query.
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> Dashboard:
    dashboard: Dashboard = json.loads(path.read_text())
    return dashboard


def panels(dashboard: Dashboard) -> list[Panel]:
    """Every panel, rows included, and the panels a collapsed row keeps inside itself."""
    found: list[Panel] = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every target of every panel of every dashboard."""
    return [
        (dashboard["uid"], panel["title"], target["expr"])
        for dashboard in map(load, dashboard_files())
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def substitute(expr: str, service: str = "ingest", rate_interval: str = "1m") -> str:
    """The query as Grafana would send it; variables other than these are left as they are."""
    values = {"service": service, "__rate_interval": rate_interval, "__interval": rate_interval}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(value, expr)
