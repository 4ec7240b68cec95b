"""Static checks of the image and the compose stack: deploy/Dockerfile, deploy/compose*.yaml and
the Prometheus configuration they mount. Nothing here needs Docker."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

from services.common.settings import Settings
from tests.deploy.images import check_image
from tests.processes import REPO
from tests.stack import QUEUES

DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_FILES = [COMPOSE, DEPLOY / "compose.observability.yaml"]
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
PROMETHEUS_COMPOSE = DEPLOY / "prometheus" / "prometheus.compose.yml"
IMAGE = "taskyard:local"  # the image compose builds from deploy/Dockerfile
DEFAULT_SOFT_SHUTDOWN = Settings().worker_soft_shutdown_timeout

Service = dict[str, Any]


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def services() -> dict[str, Service]:
    """Every service of the layered stack (the files define disjoint services)."""
    merged: dict[str, Service] = {}
    for path in COMPOSE_FILES:
        merged.update(load(path)["services"])
    return merged


def taskyard_services() -> dict[str, Service]:
    return {name: svc for name, svc in services().items() if svc.get("image") == IMAGE}


def workers() -> dict[str, Service]:
    """The Celery workers: `celery -A services.<svc>.worker worker ...`."""
    return {
        name: svc
        for name, svc in taskyard_services().items()
        if svc["command"][0] == "celery" and svc["command"][3] == "worker"
    }


def seconds(duration: str) -> float:
    """A compose duration such as 60s, 1m30s or 500ms."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unreadable duration {duration!r}"
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * scale[unit] for number, unit in parts)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def image_references() -> list[str]:
    stages: set[str] = set()
    references = []
    for instruction, arguments in instructions():
        if instruction == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--")]
            if words[0] not in stages:
                references.append(words[0])
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    references += [svc["image"] for svc in services().values() if svc["image"] != IMAGE]
    return references


def scrape_jobs(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Job name to its target groups."""
    return {job["job_name"]: job["static_configs"] for job in load(path)["scrape_configs"]}


def test_compose_files_parse_without_a_version_key() -> None:
    for path in COMPOSE_FILES:
        document = load(path)
        assert "version" not in document, f"{path.name}: the Compose spec has no version key"
        assert document["services"], path.name
    assert len(services()) == sum(len(load(path)["services"]) for path in COMPOSE_FILES)


def test_every_service_has_a_healthcheck() -> None:
    for name, svc in services().items():
        check = svc.get("healthcheck", {})
        assert not check.get("disable"), name
        assert check.get("test", [None])[0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"


def test_every_dependency_waits_until_healthy() -> None:
    known = services()
    for name, svc in known.items():
        for dependency, condition in svc.get("depends_on", {}).items():
            assert dependency in known, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_redis_is_a_durable_broker() -> None:
    redis = services()["redis"]
    options = dict(zip(redis["command"][1::2], redis["command"][2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--save"] == ""
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--hash-max-listpack-value"] == "1024"  # compact job records
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_taskyard_services_share_one_definition() -> None:
    compose = load(COMPOSE)
    shared, env = compose["x-taskyard"], compose["x-env"]
    assert COMPOSE.read_text().count("REDIS_URL:") == 1, "the environment is defined once"
    assert shared["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert len(taskyard_services()) >= 3 * len(QUEUES) + 3
    for name, svc in taskyard_services().items():
        for key in ("build", "read_only", "security_opt", "cap_drop", "tmpfs", "restart"):
            assert svc[key] == shared[key], f"{name}.{key} is not the shared one"
        assert {"/var/run/taskyard", "/tmp"} <= set(svc["tmpfs"]), name
        if name != "gateway":  # the gateway needs no broker, database or keys
            assert env.items() <= svc["environment"].items(), f"{name} lacks the shared env"


def test_workers_outlive_their_soft_shutdown() -> None:
    assert workers()
    for name, svc in workers().items():
        env = svc["environment"]
        soft = float(env.get("TASKYARD_WORKER_SOFT_SHUTDOWN_TIMEOUT", DEFAULT_SOFT_SHUTDOWN))
        assert seconds(svc["stop_grace_period"]) > soft, name
        assert env["REMAP_SIGTERM"] == "SIGQUIT", name
        assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/var/run/taskyard/"), name
        assert env["TASKYARD_WORKER_METRICS_HOST"] == "0.0.0.0", f"{name}: metrics unreachable"
        assert env["TASKYARD_WORKER_HEARTBEAT_FILE"] in " ".join(svc["healthcheck"]["test"]), name
        assert "inspect" not in " ".join(svc["healthcheck"]["test"]), name


def test_every_queue_has_an_api_a_worker_and_a_flower_behind_the_gateway() -> None:
    assert QUEUES, "no services/*/worker.py"
    known, gateway = services(), services()["gateway"]
    for queue in QUEUES:
        for name in (f"{queue}-api", f"{queue}-worker", f"flower-{queue}"):
            assert f"services.{queue}." in " ".join(known[name]["command"]), name
        worker = known[f"{queue}-worker"]["command"]
        assert worker[worker.index("-Q") + 1] == queue
        assert f"--url_prefix=flower/{queue}" in known[f"flower-{queue}"]["command"]
        env = gateway["environment"]
        assert env[f"TASKYARD_{queue.upper()}_URL"] == f"http://{queue}-api:8000"
        assert env[f"TASKYARD_FLOWER_{queue.upper()}_URL"] == f"http://flower-{queue}:5555"
        assert {f"{queue}-api", f"flower-{queue}"} <= gateway["depends_on"].keys()


def test_prometheus_compose_config_mirrors_the_local_one() -> None:
    local, compose = scrape_jobs(PROMETHEUS), scrape_jobs(PROMETHEUS_COMPOSE)
    assert compose.keys() == local.keys()
    for job, groups in compose.items():
        assert [g.get("labels") for g in groups] == [g.get("labels") for g in local[job]], job
        assert [len(g["targets"]) for g in groups] == [len(g["targets"]) for g in local[job]]
        for target in (target for group in groups for target in group["targets"]):
            assert target.split(":")[0] in services(), f"{job}: {target} is no compose service"
    assert load(PROMETHEUS_COMPOSE)["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_dockerfile_is_multi_stage_and_runs_as_a_numeric_user() -> None:
    steps = instructions()
    assert sum(instruction == "FROM" for instruction, _ in steps) >= 2
    last = {instruction: index for index, (instruction, _) in enumerate(steps)}
    assert last["USER"] > last["FROM"], "the final stage sets the user"
    user = steps[last["USER"]][1]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"USER {user} is not a numeric non-root id"


def test_dockerfile_commands_are_exec_form_and_nothing_is_fetched_by_add() -> None:
    for instruction, arguments in instructions():
        if instruction in {"CMD", "ENTRYPOINT"}:
            command = json.loads(arguments)
            assert isinstance(command, list), instruction
            assert all(isinstance(word, str) for word in command), instruction
        if instruction == "ADD":
            assert "://" not in arguments, f"ADD {arguments}"


def test_images_are_pinned_and_name_no_registry() -> None:
    references = image_references()
    assert "python:3.11-slim-bookworm" in references
    for reference in references:
        check_image(reference)


def test_build_context_leaves_out_local_state() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    assert {".git", ".venv", "var", "tests", "**/__pycache__", "**/*.pyc", "bench/results"} <= (
        ignored
    )
