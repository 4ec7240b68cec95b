"""The Kubernetes overlays: they render, validate offline, meet the restricted pod security
profile, and agree with the code (queues, Redis keys, ports, paths, routes, alerts)."""

import importlib.util
import json
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from gateway.launch import DEFAULTS as GATEWAY_DEFAULTS
from services.common.api import gateway_auth, health
from services.common.jobs.keys import QueueKeys
from services.common.settings import Settings
from tests.deploy.images import check_image
from tests.deploy.kubernetes import (
    OVERLAYS,
    Rendered,
    container,
    env,
    is_crd_object,
    render,
    schema_file,
)
from tests.processes import REPO
from tests.stack import QUEUES

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
        # Not /readyz: one Redis blip would take every API out of its Service at once.
        assert api["readinessProbe"]["httpGet"]["path"] == "/healthz"


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
    for line in ("appendonly yes", "maxmemory-policy noeviction", "hash-max-listpack-value 1024"):
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
    # Each service's private paths are denied on its own API: a route whose service has no
    # ready endpoint is dropped, and the request would fall through to the public route.
    for queue in QUEUES:
        (deny,) = [
            rule for rule in route["spec"]["routes"] if f"Path(`/{queue}/metrics`)" in rule["match"]
        ]
        assert f"Path(`/{queue}/auth/admin`)" in deny["match"]
        assert [s["name"] for s in deny["services"]] == [f"{queue}-api"]
        assert [m["name"] for m in deny["middlewares"]] == ["security-headers", "not-found"]


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
    generator = _generator()
    assert rule["spec"] == generator.prometheus_rule()["spec"]
    assert rendered.namespace == generator.NAMESPACE, "the rules are scoped to prod's namespace"


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


def test_monitors_label_targets_as_the_local_config_does() -> None:
    """Same job names, and the service label only where the local config sets one (an API's
    metrics carry their own; a target label would rename theirs to exported_service)."""
    local = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    labelled = {
        job["job_name"]
        for job in local["scrape_configs"]
        if any("service" in static.get("labels", {}) for static in job["static_configs"])
    }
    rendered = render("prod")
    for monitor in rendered.of_kind("ServiceMonitor") + rendered.of_kind("PodMonitor"):
        spec = monitor["spec"]
        for endpoint in spec.get("endpoints", []) + spec.get("podMetricsEndpoints", []):
            relabels = endpoint["relabelings"]
            (job,) = [r["replacement"] for r in relabels if r.get("targetLabel") == "job"]
            sets_service = [r for r in relabels if r.get("targetLabel") == "service"]
            drops_service = [r for r in relabels if r["action"] == "labeldrop"]
            if job in labelled:
                (relabel,) = sets_service
                assert relabel["sourceLabels"][0].endswith("_label_taskyard_io_service"), job
            else:
                assert [r["regex"] for r in drops_service] == ["service"], job
            paths = [r for r in relabels if r.get("targetLabel") == "__metrics_path__"]
            for queue in QUEUES if paths else []:
                (path,) = paths
                assert path["replacement"].replace("${1}", queue) == f"/flower/{queue}/metrics"


def test_the_gateway_middlewares_match_the_local_gateway(rendered: Rendered) -> None:
    local = yaml.safe_load((REPO / "gateway" / "dynamic.yml").read_text())["http"]["middlewares"]
    cluster = {obj["metadata"]["name"]: obj["spec"] for obj in rendered.of_kind("Middleware")}
    assert cluster["security-headers"] == local["security-headers"]
    assert cluster["drop-credentials"] == local["drop-credentials"]
    for queue in QUEUES:
        assert cluster[f"strip-{queue}"] == local[f"strip-{queue}"]
    limits = {"body-limit": "GATEWAY_MAX_BODY_BYTES", "upload-limit": "GATEWAY_MAX_UPLOAD_BYTES"}
    for name, setting in limits.items():
        assert cluster[name]["buffering"]["maxRequestBodyBytes"] == int(GATEWAY_DEFAULTS[setting])
    rate = {
        **local["per-key-rate-limit"]["rateLimit"],
        "average": int(GATEWAY_DEFAULTS["GATEWAY_RATE_LIMIT_AVERAGE"]),
        "burst": int(GATEWAY_DEFAULTS["GATEWAY_RATE_LIMIT_BURST"]),
    }
    assert cluster["per-key-rate-limit"]["rateLimit"] == rate
    auth = cluster["admin-only"]["forwardAuth"]
    assert auth["authRequestHeaders"] == ["Authorization"]
    api_port = _port(rendered.get("Service", "ingest-api"), "http")
    assert auth["address"].startswith(f"http://ingest-api.{rendered.namespace}.svc")
    assert auth["address"].endswith(f":{api_port}/auth/admin")
    assert "/auth/admin" in {route.path for route in gateway_auth.router.routes}  # type: ignore[attr-defined]


def test_every_route_has_the_local_middleware_chain(rendered: Rendered) -> None:
    """Each local router that reaches a service has a cluster route with the same match (but
    the host) and the same middlewares."""
    (route,) = rendered.of_kind("IngressRoute")
    cluster = {
        re.sub(r"^Host\(`[^`]*`\) && ", "", rule["match"]): [m["name"] for m in rule["middlewares"]]
        for rule in route["spec"]["routes"]
    }
    local = yaml.safe_load((REPO / "gateway" / "dynamic.yml").read_text())["http"]["routers"]
    for name, router in local.items():
        if router["service"].endswith("@internal"):
            continue
        rule = router["rule"].strip()
        # An alternation gets parentheses when the cluster route prefixes its Host(...).
        chain = cluster.get(rule) or cluster[f"({rule})"]
        assert chain == router["middlewares"], name


def test_keda_reads_redis_with_the_password_redis_requires(rendered: Rendered) -> None:
    (auth,) = rendered.of_kind("TriggerAuthentication")
    (secret_ref,) = auth["spec"]["secretTargetRef"]
    assert secret_ref["parameter"] == "password"
    redis = container(rendered.get("StatefulSet", "redis")["spec"]["template"]["spec"], "redis")
    command = " ".join(redis.get("command", []) + redis.get("args", []))
    assert "--requirepass $(REDIS_PASSWORD)" in command
    (password_env,) = [e for e in redis["env"] if e["name"] == "REDIS_PASSWORD"]
    assert password_env["valueFrom"]["secretKeyRef"]["key"] == secret_ref["key"]
    known = {"address", "addressFromEnv", "listName", "listLength", "activationListLength"}
    known |= {"databaseIndex", "enableTLS", "usernameFromEnv", "passwordFromEnv"}
    for scaler in rendered.of_kind("ScaledObject"):
        for trigger in scaler["spec"]["triggers"]:
            assert trigger["metadata"].keys() <= known, trigger["metadata"]
            assert int(trigger["metadata"]["listLength"]) > 0


def test_redis_persists_every_write_in_its_append_only_file(rendered: Rendered) -> None:
    conf = rendered.get("ConfigMap", "redis-config")["data"]["redis.conf"]
    assert re.search(r"^appendfsync (everysec|always)$", conf, re.M)
    assert re.search(r'^save ""$', conf, re.M), "RDB snapshots off: the AOF is the record"


def test_worker_liveness_allows_three_heartbeats(rendered: Rendered) -> None:
    for queue in QUEUES:
        worker = container(
            rendered.get("Deployment", f"{queue}-worker")["spec"]["template"]["spec"], "worker"
        )
        interval = float(
            env(worker).get(
                "TASKYARD_WORKER_HEARTBEAT_INTERVAL", DEFAULTS.worker_heartbeat_interval
            )
        )
        (limit,) = re.findall(r"-lt (\d+)", " ".join(worker["livenessProbe"]["exec"]["command"]))
        assert int(limit) >= 3 * interval


def test_every_image_is_pinned_without_a_registry_host(rendered: Rendered) -> None:
    for _, pod in rendered.pod_templates():
        for spec in pod["containers"] + pod.get("initContainers", []):
            check_image(spec["image"])
