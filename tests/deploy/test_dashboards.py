"""Static checks of the Grafana dashboards and their provisioning; promtool parses every query."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dashboards import (
    DASHBOARDS,
    Dashboard,
    dashboard_files,
    load,
    panel_queries,
    panels,
    substitute,
)
from tests.processes import REPO, require_binary

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UIDS = {"taskyard-overview": "Taskyard / Overview", "taskyard-service": "Taskyard / Service"}
RATE_INTERVALS = {"$__rate_interval", "${__rate_interval}"}


def variable(dashboard: Dashboard, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"{dashboard['uid']}: {len(found)} variables named {name}"
    return found[0]


def targets(dashboard: Dashboard) -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in panels(dashboard) for t in p.get("targets", [])]


@pytest.fixture(params=dashboard_files(), ids=lambda path: path.stem)
def dashboard(request: pytest.FixtureRequest) -> Dashboard:
    return load(request.param)


def test_the_dashboards_are_the_stable_ones() -> None:
    boards = [load(path) for path in dashboard_files()]
    assert {board["uid"]: board["title"] for board in boards} == UIDS
    assert len({board["uid"] for board in boards}) == len(boards)
    for path, board in zip(dashboard_files(), boards, strict=True):
        assert path.stem == board["uid"]
        assert board["schemaVersion"] == 39
        assert board["tags"] == ["taskyard"]
        assert board["id"] is None


def test_the_files_are_written_with_two_space_indentation(dashboard: Dashboard) -> None:
    path = DASHBOARDS / f"{dashboard['uid']}.json"
    assert path.read_text() == json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def test_every_panel_and_target_uses_the_datasource_variable(dashboard: Dashboard) -> None:
    ds = variable(dashboard, "datasource")
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
    for title, target in targets(dashboard):
        assert target["datasource"] == DATASOURCE, title


def test_the_service_dashboard_is_filtered_by_service() -> None:
    board = load(DASHBOARDS / "taskyard-service.json")
    service = variable(board, "service")
    assert service["type"] == "query"
    assert service["datasource"] == DATASOURCE
    assert service["current"]["value"] == "ingest"
    for title, target in targets(board):
        assert re.search(r"\$service\b|\$\{service\}", str(target["expr"])), title


def test_every_panel_has_a_place_and_queries(dashboard: Dashboard) -> None:
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    titles = [panel["title"] for panel in panels(dashboard) if panel["type"] != "row"]
    assert len(titles) == len(set(titles)), "panel titles repeat"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        assert 0 <= grid["x"] <= grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["y"] >= 0, panel["title"]
        if panel["type"] != "row":
            assert panel["type"] in {"timeseries", "stat"}, panel["title"]
            assert panel["targets"], f"{panel['title']} has no targets"
            assert panel.get("description"), f"{panel['title']} has no description"
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_no_two_panels_overlap(dashboard: Dashboard) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[x, y]}"
                taken[x, y] = panel["title"]


def test_every_range_is_the_rate_interval() -> None:
    for uid, title, expr in panel_queries():
        without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        ranges = re.findall(r"\[([^\]]*)\]", without_strings)
        calls = re.findall(r"\b(?:rate|irate|increase)\s*\(", without_strings)
        assert set(ranges) <= RATE_INTERVALS, f"{uid} / {title}: {expr}"
        assert len(ranges) >= len(calls), f"{uid} / {title}: {expr}"


def test_substitute_fills_in_every_variable() -> None:
    expr = 'rate(x{service="$service@file", q="${service}"}[$__rate_interval]) + y[${__interval}]'
    assert substitute(expr, service="email", rate_interval="2m") == (
        'rate(x{service="email@file", q="email"}[2m]) + y[2m]'
    )
    assert substitute("$unknown") == "$unknown"
    for _, _, query in panel_queries():
        assert "$" not in substitute(query), query


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = [
        {"record": f"taskyard:dashboard_query_{n}", "expr": substitute(expr)}
        for n, (_, _, expr) in enumerate(panel_queries())
    ]
    assert rules
    # JSON is YAML, so promtool reads this as a rule file.
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    [prometheus] = datasources["datasources"]
    assert prometheus["name"] == "Prometheus"
    assert prometheus["type"] == "prometheus"
    assert prometheus["uid"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert prometheus["isDefault"] is True

    providers = yaml.safe_load((PROVISIONING / "dashboards" / "taskyard.yaml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Taskyard"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/taskyard"
