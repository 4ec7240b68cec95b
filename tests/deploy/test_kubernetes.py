"""The Kubernetes overlays: they render, validate offline, meet the restricted pod security
profile, and agree with the code (queues, Redis keys, ports, paths, routes, alerts)."""

import importlib.util
import json
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.common.api import health
from services.common.jobs.keys import QueueKeys
from services.common.settings import Settings
from tests.deploy.kubernetes import (
    OVERLAYS,
    QUEUES,
    Rendered,
    container,
    env,
    is_crd_object,
    render,
    schema_file,
)
from tests.processes import REPO

KUBERNETES_VERSION = "1.30.0"
DEFAULTS = Settings()
HEALTH_PATHS = {route.path for route in health.router.routes}  # type: ignore[attr-defined]


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(request.param)


def test_there_are_dev_and_prod_overlays() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)
    assert QUEUES == ["email", "ingest", "reports"]


def test_core_objects_pass_the_kubernetes_schemas(rendered: Rendered) -> None:
    core = [obj for obj in rendered.objects if not is_crd_object(obj)]
    assert core
    for obj in core:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_custom_resources_pass_the_schemas_the_tests_hold(rendered: Rendered) -> None:
    custom = [obj for obj in rendered.objects if is_crd_object(obj)]
    assert {obj["kind"] for obj in custom} >= {"ScaledObject", "TriggerAuthentication"}
    for obj in custom:
        schema = json.loads(schema_file(obj).read_text())
        jsonschema.validate(obj, schema)


def test_every_queue_has_a_worker_that_consumes_it(rendered: Rendered) -> None:
    for queue in QUEUES:
        worker = rendered.get("Deployment", f"{queue}-worker")
        command = container(worker["spec"]["template"]["spec"], "worker")["command"]
        assert command[:4] == ["celery", "-A", f"services.{queue}.worker", "worker"]
        assert command[command.index("-Q") + 1] == queue
        assert "replicas" not in worker["spec"], "KEDA owns the worker count"


def test_every_queue_scales_on_the_very_list_its_workers_consume(rendered: Rendered) -> None:
    redis_port = _port(rendered.get("Service", "redis"), "redis")
    for queue in QUEUES:
        scaler = next(
            obj
            for obj in rendered.of_kind("ScaledObject")
            if obj["spec"]["scaleTargetRef"]["name"] == f"{queue}-worker"
        )
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert metadata["listName"] == QueueKeys(DEFAULTS.key_namespace, queue).queue_list
        worker = container(
            rendered.get("Deployment", f"{queue}-worker")["spec"]["template"]["spec"], "worker"
        )
        address = env(worker)[metadata["addressFromEnv"]]
        assert address == f"redis.{rendered.namespace}.svc:{redis_port}"
        rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
        assert scaler["spec"]["cooldownPeriod"] >= _task_time_limit(worker)
        assert scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]


def test_every_api_serves_its_port_and_probes_paths_the_code_has(rendered: Rendered) -> None:
    for queue in QUEUES:
        pod = rendered.get("Deployment", f"{queue}-api")["spec"]["template"]["spec"]
        api = container(pod, "api")
        assert f"services.{queue}.api:create_app" in api["command"]
        assert api["command"][api["command"].index("--root-path") + 1] == f"/{queue}"
        port = api["command"][api["command"].index("--port") + 1]
        assert _port(rendered.get("Service", f"{queue}-api"), "http") == int(port)
        for probe in ("livenessProbe", "readinessProbe"):
            assert api[probe]["httpGet"]["path"] in HEALTH_PATHS


def test_workers_shut_down_softly_within_their_grace_period(rendered: Rendered) -> None:
    for queue in QUEUES:
        pod = rendered.get("Deployment", f"{queue}-worker")["spec"]["template"]["spec"]
        worker = env(container(pod, "worker"))
        soft = float(
            worker.get(
                "TASKYARD_WORKER_SOFT_SHUTDOWN_TIMEOUT", DEFAULTS.worker_soft_shutdown_timeout
            )
        )
        assert pod["terminationGracePeriodSeconds"] > soft
        assert worker["REMAP_SIGTERM"] == "SIGQUIT"
        liveness = " ".join(container(pod, "worker")["livenessProbe"]["exec"]["command"])
        assert worker["TASKYARD_WORKER_HEARTBEAT_FILE"] in liveness
        assert "inspect" not in liveness
        metrics_port = _container_port(container(pod, "worker"), "metrics")
        assert worker["TASKYARD_WORKER_METRICS_PORT"] == str(metrics_port)
        assert worker["TASKYARD_WORKER_METRICS_HOST"] == "0.0.0.0"  # scraped from outside the pod
        assert worker["PROMETHEUS_MULTIPROC_DIR"].startswith("/var/run/taskyard/")


def test_one_beat_and_redis_that_keeps_what_it_accepted(rendered: Rendered) -> None:
    beat = rendered.get("Deployment", "reports-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    redis = rendered.get("StatefulSet", "redis")
    assert redis["spec"]["volumeClaimTemplates"]
    conf = rendered.get("ConfigMap", "redis-config")["data"]["redis.conf"]
    for line in ("appendonly yes", "maxmemory-policy noeviction"):
        assert re.search(rf"^{line}$", conf, re.M), line


def test_every_pod_meets_the_restricted_profile(rendered: Rendered) -> None:
    for owner, pod in rendered.pod_templates():
        where = f"{rendered.overlay}/{owner['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        mounts = {volume["name"] for volume in pod.get("volumes", [])}
        for spec in pod["containers"] + pod.get("initContainers", []):
            security = spec["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= spec["resources"][kind].keys(), where
            claims = {t["metadata"]["name"] for t in owner["spec"].get("volumeClaimTemplates", [])}
            for mount in spec.get("volumeMounts", []):
                assert mount["name"] in mounts | claims, where


def test_every_object_carries_the_recommended_labels(rendered: Rendered) -> None:
    for obj in rendered.objects:
        if obj["kind"] == "Namespace":
            continue
        labels = obj["metadata"].get("labels", {})
        where = f"{rendered.overlay}/{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "taskyard", where
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= labels.keys(), where
    for owner, _ in rendered.pod_templates():
        template = owner["spec"]["template"]["metadata"]["labels"]
        assert template.get("app.kubernetes.io/version"), owner["metadata"]["name"]


def test_routes_mirror_the_local_gateway(rendered: Rendered) -> None:
    (route,) = rendered.of_kind("IngressRoute")
    by_path = {}
    for rule in route["spec"]["routes"]:
        for prefix in re.findall(r"PathPrefix\(`([^`]+)`\)", rule["match"]):
            by_path.setdefault(prefix, set()).update(s["name"] for s in rule["services"])
    local = (REPO / "gateway" / "dynamic.yml").read_text()
    local_prefixes = set(re.findall(r"PathPrefix\(`(/[a-z]+/[a-z]*/?)`\)", local))
    assert local_prefixes <= by_path.keys()
    for queue in QUEUES:
        assert by_path[f"/{queue}/"] == {f"{queue}-api"}
        assert by_path[f"/flower/{queue}/"] == {f"flower-{queue}"}


def test_prod_monitors_every_scrape_job_of_the_local_config() -> None:
    rendered = render("prod")
    monitors = rendered.of_kind("ServiceMonitor") + rendered.of_kind("PodMonitor")
    jobs = {
        relabel["replacement"]
        for monitor in monitors
        for endpoint in monitor["spec"].get("endpoints", [])
        + monitor["spec"].get("podMetricsEndpoints", [])
        for relabel in endpoint.get("relabelings", [])
        if relabel.get("targetLabel") == "job"
    }
    local = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    expected = {job["job_name"] for job in local["scrape_configs"]} - {"prometheus", "traefik"}
    assert expected <= jobs, "Traefik and Prometheus are the cluster's own"
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["spec"] == _generator().prometheus_rule()["spec"]


def test_generated_monitoring_files_match_deploy() -> None:
    generator = _generator()
    folder = REPO / "k8s" / "components" / "monitoring"
    assert (
        yaml.safe_load((folder / "prometheusrule.yaml").read_text()) == generator.prometheus_rule()
    )
    committed = [obj for obj in yaml.safe_load_all((folder / "dashboards.yaml").read_text()) if obj]
    assert committed == generator.dashboard_configmaps(), "run k8s/generate.py"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("k8s_generate", REPO / "k8s" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _port(service: dict, name: str) -> int:
    (port,) = [p["port"] for p in service["spec"]["ports"] if p["name"] == name]
    return int(port)


def _container_port(spec: dict, name: str) -> int:
    (port,) = [p["containerPort"] for p in spec["ports"] if p["name"] == name]
    return int(port)


def _task_time_limit(worker: dict) -> int:
    return int(env(worker).get("TASKYARD_TASK_TIME_LIMIT", DEFAULTS.task_time_limit))
