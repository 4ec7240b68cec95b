"""Black-box observability: a real Prometheus scrapes the whole stack with the shipped config,
loads the shipped rules, and answers every dashboard panel's query; Flower sits behind an
admin key; one request id runs through every log line of a job that fans out."""

import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from services.common.jobs.ledger import Submission, submit_blocking
from services.common.settings import Settings
from tests.deploy.dashboards import panel_queries, substitute
from tests.processes import REPO, Process, free_port, require_binary, wait_until
from tests.prometheus import Prometheus
from tests.scrape import wait_for_totals
from tests.smtp import SmtpServer
from tests.stack import (
    ALPHA,
    MAKEFILE_DEFAULTS,
    OPS,
    QUEUES,
    Stack,
    upload_dataset,
    wait_for_flower_to_count_a_mail,
    wait_for_job,
)

RULES = REPO / "deploy" / "prometheus" / "rules"
METRIC_NAME = re.compile(r"\b(?:taskyard|celery|http|traefik|redis|flower)_[a-z0-9_]+")


@pytest.fixture(scope="module")
def prometheus(e2e_stack: Stack, redis_server, tmp_path_factory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    exporter_port = free_port()
    exporter = Process(
        "redis-exporter",
        [
            require_binary("prometheus-redis-exporter"),
            f"-redis.addr={redis_server.url}",
            f"-web.listen-address=127.0.0.1:{exporter_port}",
        ],
        {},
        workdir,
    )
    exporter.start()
    server = Prometheus(workdir, _addresses(e2e_stack, exporter_port))
    try:
        yield server.start()
    finally:
        server.stop()
        exporter.stop()


def _addresses(stack: Stack, redis_exporter_port: int) -> dict[str, str]:
    """Where each of the shipped config's targets (`make run`'s ports) listens in this stack."""
    by_setting = {
        "GATEWAY_METRICS_PORT": stack.gateway_ops_url,
        "QUEUE_EXPORTER_PORT": stack.queue_metrics_url,
        "REDIS_EXPORTER_PORT": f"http://127.0.0.1:{redis_exporter_port}",
    }
    for queue in QUEUES:
        by_setting[f"{queue.upper()}_PORT"] = stack.apis[queue]
        by_setting[f"{queue.upper()}_WORKER_METRICS_PORT"] = stack.worker_metrics[queue]
        by_setting[f"FLOWER_{queue.upper()}_PORT"] = stack.flowers[queue]
    defaults = {f"127.0.0.1:{MAKEFILE_DEFAULTS[name]}": url for name, url in by_setting.items()}
    return {default: urlsplit(url).netloc for default, url in defaults.items()}


def test_every_target_is_up_and_every_rule_loaded(prometheus: Prometheus) -> None:
    def all_up() -> bool:
        targets = prometheus.api("targets")["activeTargets"]
        return bool(targets) and all(target["health"] == "up" for target in targets)

    wait_until(all_up, timeout=60, what="every scrape target to be up")
    jobs = {target["labels"]["job"] for target in prometheus.api("targets")["activeTargets"]}
    assert jobs == {
        "prometheus",
        "traefik",
        "taskyard-api",
        "taskyard-worker",
        "taskyard-queues",
        "redis",
        "flower",
    }
    loaded = {
        rule["name"]
        for group in prometheus.api("rules")["groups"]
        for rule in group["rules"]
        if rule["type"] == "alerting"
    }
    shipped = {
        rule["alert"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert shipped
    assert loaded == shipped


def test_every_dashboard_panel_returns_data(
    prometheus: Prometheus, gateway: httpx.Client, smtp_server: SmtpServer, e2e_stack: Stack
) -> None:
    _drive_load_with_failures(gateway, smtp_server)
    _send_a_task_nobody_knows(e2e_stack)
    prometheus.wait_for_scrapes()

    empty = []
    for uid, title, expr in panel_queries():
        services = QUEUES if "$service" in expr or "${service}" in expr else QUEUES[:1]
        for service in services:
            query = substitute(expr, service=service, rate_interval="5m")
            if not prometheus.query(query):
                empty.append(f"{uid} / {title} ({service}): {query}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    # Panels that fall back to "0" when a counter has no series yet would hide a misspelt name.
    names = {name for _, _, expr in panel_queries() for name in METRIC_NAME.findall(expr)}
    unknown = [
        name for name in sorted(names) if not prometheus.query(f'count({{__name__="{name}"}})')
    ]
    assert not unknown, f"dashboards query metrics nobody exports: {unknown}"


def _drive_load_with_failures(gateway: httpx.Client, smtp_server: SmtpServer) -> None:
    dataset_id = upload_dataset(gateway, "observed", 50)
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    report = gateway.post("/reports", json={**spec, "notify": "ops@example.com"}, headers=ALPHA)
    wait_for_job(gateway, report.headers["Location"], ALPHA)
    # A mail the server defers once (a retry), then one it refuses for good (a failure).
    for reply in ("451 4.3.0 try again later", "550 5.1.1 no such user"):
        smtp_server.handler.replies.append(reply)
        mail = gateway.post("/email/messages", json=_mail("Ann"), headers=ALPHA)
        wait_for_job(gateway, mail.headers["Location"], ALPHA, timeout=90)
    assert gateway.post("/email/messages", json={"to": []}, headers=ALPHA).status_code == 422
    assert gateway.get("/reports/not-a-report").status_code == 401


def _send_a_task_nobody_knows(stack: Stack) -> None:
    """The worker refuses it (celery_task_rejected_total); its job stays queued."""
    settings = Settings(REDIS_URL=stack.redis_url, key_namespace=stack.namespace)
    submission = Submission(task="email.nonexistent", tenant="alpha", body_hash="")
    submit_blocking(settings, "email", submission)
    url = stack.worker_metrics["email"]
    wait_for_totals(url, {"celery_task_rejected_total": 1}, name="email.nonexistent")


def _mail(name: str) -> dict:
    return {"to": ["ann@example.com"], "template": "welcome", "variables": {"name": name}}


def test_flower_is_only_for_admin_keys(gateway: httpx.Client) -> None:
    anonymous = gateway.get("/flower/ingest/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert anonymous.headers["X-Frame-Options"] == "DENY"
    assert gateway.get("/flower/email/", headers=ALPHA).status_code == 403
    assert gateway.get("/flower/reports/", auth=("anyone", "wrong-key")).status_code == 401

    for service in QUEUES:
        page = gateway.get(f"/flower/{service}/", headers=OPS)
        assert page.status_code == 200, service
        assert "Flower" in page.text
    in_a_browser = gateway.get("/flower/email/", auth=("ops", "ops-key"))
    assert in_a_browser.status_code == 200
    index = gateway.get("/flower", headers=OPS)
    assert index.status_code in (301, 302, 307, 308)
    assert index.headers["Location"].endswith("/flower/ingest/")


def test_flower_turns_on_the_task_events_workers_keep_off(
    gateway: httpx.Client, e2e_stack: Stack
) -> None:
    wait_for_flower_to_count_a_mail(gateway, e2e_stack.flowers["email"])


def test_one_request_id_runs_through_every_log_line(
    gateway: httpx.Client, e2e_stack: Stack
) -> None:
    request_id = "trace-7d1e5a90c4b2"
    dataset_id = upload_dataset(gateway, "traced", 20)
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    report = gateway.post(
        "/reports",
        json={**spec, "notify": "ops@example.com"},
        headers={**ALPHA, "X-Request-ID": request_id},
    )
    assert report.headers["X-Request-ID"] == request_id
    report_id = report.json()["id"]
    wait_for_job(gateway, report.headers["Location"], ALPHA)

    def traced(process: str) -> list[dict]:
        return [
            line for line in _json_lines(e2e_stack, process) if line.get("request_id") == request_id
        ]

    def mailed() -> bool:
        return any(line.get("task") == "email.send" for line in traced("email-worker"))

    wait_until(mailed, timeout=60, what="the email worker to log the notification")
    api = [line for line in traced("reports-api") if line.get("job_id") == report_id]
    assert api, "the reports API logged no line for the job"
    builds = [line for line in traced("reports-worker") if line.get("task") == "reports.build"]
    assert builds
    assert all(line["job_id"] == report_id for line in builds)
    mails = [line for line in traced("email-worker") if line.get("task") == "email.send"]
    for line in [*api, *builds, *mails]:
        assert {"service", "job_id", "task", "timestamp", "level"} <= line.keys(), line
    assert {line["service"] for line in [*api, *builds, *mails]} == {"reports", "email"}
    assert mails[0]["job_id"] != report_id  # the notification is a job of its own


def _json_lines(stack: Stack, process: str) -> Iterator[dict]:
    for log in stack.workdir.glob(f"{process}-*.log"):
        for raw in log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError:
                    continue
