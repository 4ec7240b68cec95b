"""The Prometheus alert rules: promtool accepts and tests them, and every alert is labelled,
has a runbook section, and a promtool case that fires as well as one that stays silent."""

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.processes import REPO, require_binary

RULES = sorted((REPO / "deploy/prometheus/rules").glob("*.yml"))
RULE_TESTS = sorted((REPO / "deploy/prometheus/tests").glob("*.yml"))
RUNBOOK = REPO / "docs/runbook.md"


def promtool(*args: str | Path) -> None:
    command = [require_binary("promtool"), *map(str, args)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


def alerts() -> list[dict[str, Any]]:
    groups = [group for path in RULES for group in yaml.safe_load(path.read_text())["groups"]]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def alert_checks() -> list[dict[str, Any]]:
    cases = [case for path in RULE_TESTS for case in yaml.safe_load(path.read_text())["tests"]]
    return [check for case in cases for check in case.get("alert_rule_test", [])]


def github_anchor(heading: str) -> str:
    """Lowercase, punctuation dropped, spaces to hyphens: GitHub's heading anchors."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_accepts_every_rule_file() -> None:
    assert RULES, "no rule files in deploy/prometheus/rules"
    promtool("check", "rules", *RULES)


def test_promtool_rule_tests_pass() -> None:
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    promtool("test", "rules", *RULE_TESTS)


def test_every_alert_has_a_severity_and_annotations() -> None:
    assert alerts()
    for alert in alerts():
        assert alert.get("labels", {}).get("severity") in {"page", "ticket"}, alert["alert"]
        missing = {"summary", "description", "runbook_url"} - set(alert.get("annotations", {}))
        assert not missing, f"{alert['alert']} lacks {sorted(missing)}"


def test_every_runbook_url_has_a_runbook_section() -> None:
    text = re.sub(r"^```.*?^```", "", RUNBOOK.read_text(), flags=re.MULTILINE | re.DOTALL)
    anchors = {github_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    for alert in alerts():
        path, _, anchor = alert["annotations"]["runbook_url"].partition("#")
        assert path == "docs/runbook.md", alert["alert"]
        assert anchor in anchors, f"{alert['alert']}: no heading for #{anchor} in {RUNBOOK}"


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    firing = set()
    silent = set()
    for check in alert_checks():
        expected = check.get("exp_alerts")
        if expected == []:
            silent.add(check["alertname"])
        elif expected and all({"exp_labels", "exp_annotations"} <= set(e) for e in expected):
            firing.add(check["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert not names - firing, f"no firing case with labels and annotations: {names - firing}"
    assert not names - silent, f"no silent case (exp_alerts: []): {names - silent}"
