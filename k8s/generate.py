"""Write the monitoring component's generated manifests from the files under deploy/.

- k8s/components/monitoring/prometheusrule.yaml: one PrometheusRule whose spec.groups are the groups
  of deploy/prometheus/rules/*.yml, merged in file-name order.
- k8s/components/monitoring/dashboards.yaml: one ConfigMap per deploy/grafana/dashboards/*.json,
  labelled grafana_dashboard: "1" for Grafana's sidecar; data key <uid>.json holds the file's
  text with only its "expr" strings changed.

The files under deploy/ are written for the local stack, where Prometheus scrapes Taskyard alone.
On Kubernetes Prometheus is the cluster's, so every expression is rewritten for it (see
kubernetes_promql): each selector is scoped to Taskyard's namespace (NAMESPACE), Traefik's to
Taskyard's services under their kubernetescrd names, and the two `up` rules name their jobs.

The rule files and dashboards stay the source of truth; run this after changing them:

    .venv/bin/python k8s/generate.py

`prometheus_rule()` and `dashboard_configmaps()` return what the files hold, so a test can check
that the committed files are current.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import yaml

REPO: Final = Path(__file__).resolve().parent.parent
RULES_DIR: Final = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS_DIR: Final = REPO / "deploy" / "grafana" / "dashboards"
MONITORING_DIR: Final = REPO / "k8s" / "components" / "monitoring"
PROMETHEUS_RULE_FILE: Final = MONITORING_DIR / "prometheusrule.yaml"
DASHBOARDS_FILE: Final = MONITORING_DIR / "dashboards.yaml"

COMMON_LABELS: Final = {
    "app.kubernetes.io/part-of": "taskyard",
    "app.kubernetes.io/component": "monitor",
}
# The Grafana folder for the sidecar (kube-prometheus-stack: sidecar.dashboards.folderAnnotation).
DASHBOARD_FOLDER: Final = "Taskyard"

# The namespace the rules and dashboards watch: the prod overlay's, the one overlay that includes
# components/monitoring. It is written into the expressions here rather than by the overlays'
# replacements (as the forward-auth address and REDIS_ADDRESS are) because a kustomize replacement
# rewrites one delimited part of a string, and an expression holds several selectors. An overlay
# in another namespace that includes the component needs this changed and the files regenerated.
NAMESPACE: Final = "taskyard"
SERVICES: Final = sorted(path.parent.name for path in (REPO / "services").glob("*/worker.py"))

# Metrics only Taskyard's own targets export (APIs, workers, queue exporter) and its Redis's
# exporter. The Prometheus Operator labels every target of a ServiceMonitor or PodMonitor with the
# namespace it runs in: that keeps out other applications (up, redis_*) and other Taskyard installs.
NAMESPACED_METRICS: Final = r"up|(?:taskyard|celery|http|redis)_\w+"
# Traefik's samples carry the cluster Traefik's namespace, not Taskyard's; its services are named
# <namespace>-<Service>-<port>@kubernetescrd after the IngressRoute's services (gateway.yaml).
TRAEFIK_SERVICES: Final = "{}-({})-http@kubernetescrd".format(
    NAMESPACE, "|".join([f"{svc}-api" for svc in SERVICES] + [f"flower-{svc}" for svc in SERVICES])
)
# The local gateway's names for the services (file provider) and the cluster's for the same ones.
RENAMES: Final = {
    'service="$service@file"': f'service="{NAMESPACE}-$service-api-http@kubernetescrd"',
}
# Rules whose expression changes beyond the scoping: alert -> (old text, new text).
RULE_EDITS: Final = {
    # Traefik is the cluster's, in its own namespace (outside the scope) and watched by its owner.
    "TaskyardTargetDown": ('|traefik|redis"}', '|redis"}'),
    # Locally "every other job" means flower and prometheus; in a cluster's Prometheus it would
    # mean every other application's targets. Name Taskyard's auxiliary job instead.
    "TaskyardAuxiliaryTargetDown": (
        'up{job!~"taskyard-api|taskyard-worker|taskyard-queues|traefik|redis"}',
        'up{job="flower"}',
    ),
}

Manifest = dict[str, Any]


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def add_matcher(promql: str, metrics: str, matcher: str) -> str:
    """Add `matcher` (say `namespace="taskyard"`) to every selector of a metric whose whole name
    matches the regex `metrics`, with or without braces, before any range ([5m]). A selector that
    already has an = or =~ matcher on the same label keeps its own. String literals are skipped, so
    a label value never passes for a metric name."""
    label = matcher.partition("=")[0]
    selector = re.compile(
        r'"(?:[^"\\]|\\.)*"'  # a string literal: left as it is
        rf"|(?<![\w:$])(?P<name>{metrics})(?![\w:(])(?:\{{(?P<matchers>[^}}]*)\}})?"
    )

    def scoped(match: re.Match[str]) -> str:
        if match["name"] is None:
            return match[0]
        matchers = (match["matchers"] or "").strip()
        if re.search(rf'(?<![\w]){label}=~?"', matchers):
            return match[0]
        return f"{match['name']}{{{', '.join(filter(None, [matchers, matcher]))}}}"

    return selector.sub(scoped, promql)


def kubernetes_promql(promql: str) -> str:
    """The expression as it must read against the cluster's Prometheus."""
    for old, new in RENAMES.items():
        promql = promql.replace(old, new)
    promql = add_matcher(promql, NAMESPACED_METRICS, f'namespace="{NAMESPACE}"')
    return add_matcher(promql, r"traefik_\w+", f'service=~"{TRAEFIK_SERVICES}"')


def kubernetes_rule(rule: dict[str, Any]) -> dict[str, Any]:
    expr = str(rule["expr"])
    if rule.get("alert") in RULE_EDITS:
        old, new = RULE_EDITS[rule["alert"]]
        if old not in expr:
            raise ValueError(f"{rule['alert']}: {old!r} is not in its expression: edit RULE_EDITS")
        expr = expr.replace(old, new)
    return {**rule, "expr": kubernetes_promql(expr)}


def kubernetes_dashboard(text: str) -> str:
    """The dashboard's text with every "expr" string rewritten, and nothing else changed."""
    return re.sub(
        r'("expr": )("(?:[^"\\]|\\.)*")',
        lambda match: match[1] + json.dumps(kubernetes_promql(json.loads(match[2]))),
        text,
    )


def prometheus_rule() -> Manifest:
    """One PrometheusRule holding every group of every rule file, in file order, rewritten for
    the cluster's Prometheus."""
    groups: list[Any] = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            groups.append({**group, "rules": [kubernetes_rule(rule) for rule in group["rules"]]})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "taskyard",
            "labels": {"app.kubernetes.io/name": "taskyard-rules", **COMMON_LABELS},
        },
        "spec": {"groups": groups},
    }


def dashboard_configmaps() -> list[Manifest]:
    """One ConfigMap per dashboard, named after its uid, holding the file's text with its
    expressions rewritten for the cluster's Prometheus."""
    configmaps: list[Manifest] = []
    for path in dashboard_files():
        text = kubernetes_dashboard(path.read_text(encoding="utf-8"))
        uid: str = json.loads(text)["uid"]
        configmaps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"grafana-dashboard-{uid}",
                    "labels": {
                        "app.kubernetes.io/name": f"grafana-dashboard-{uid}",
                        **COMMON_LABELS,
                        "grafana_dashboard": "1",
                    },
                    "annotations": {"grafana_folder": DASHBOARD_FOLDER},
                },
                "data": {f"{uid}.json": text},
            }
        )
    return configmaps


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (rule expressions, dashboards) as literal blocks, for reading."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _header(sources: list[Path]) -> str:
    names = ", ".join(str(path.relative_to(REPO)) for path in sources)
    return f"# generated by k8s/generate.py from {names}; do not edit\n"


def render(documents: list[Manifest], sources: list[Path]) -> str:
    body = "---\n".join(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        for doc in documents
    )
    return _header(sources) + body


def main() -> None:
    PROMETHEUS_RULE_FILE.write_text(render([prometheus_rule()], rule_files()), encoding="utf-8")
    DASHBOARDS_FILE.write_text(render(dashboard_configmaps(), dashboard_files()), encoding="utf-8")
    for path in (PROMETHEUS_RULE_FILE, DASHBOARDS_FILE):
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
