"""The Kustomize overlays as data: rendered with the real kubectl, looked up by kind and name."""

import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.processes import REPO, require_binary

OVERLAYS = sorted(path.name for path in (REPO / "k8s" / "overlays").iterdir() if path.is_dir())
CRD_GROUPS = ("keda.sh", "traefik.io", "monitoring.coreos.com")

Object = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    overlay: str
    objects: list[Object]

    @property
    def namespace(self) -> str:
        (namespace,) = {obj["metadata"]["namespace"] for obj in self.objects if _namespaced(obj)}
        return str(namespace)

    def of_kind(self, kind: str) -> list[Object]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> Object:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def pod_templates(self) -> Iterator[tuple[Object, Object]]:
        """(owner, pod spec) of every Deployment and StatefulSet."""
        for obj in self.objects:
            if obj["kind"] in ("Deployment", "StatefulSet"):
                yield obj, obj["spec"]["template"]["spec"]


@functools.cache
def render(overlay: str) -> Rendered:
    kubectl = require_binary("kubectl")
    done = subprocess.run(
        [kubectl, "kustomize", str(REPO / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Rendered(overlay, [obj for obj in yaml.safe_load_all(done.stdout) if obj])


def is_crd_object(obj: Object) -> bool:
    return str(obj["apiVersion"]).split("/")[0] in CRD_GROUPS


def container(pod: Object, name: str) -> Object:
    (found,) = [c for c in pod["containers"] if c["name"] == name]
    return dict(found)


def env(container_spec: Object) -> dict[str, str]:
    return {item["name"]: str(item.get("value", "")) for item in container_spec.get("env", [])}


def schema_file(obj: Object) -> Path:
    group, _, version = str(obj["apiVersion"]).partition("/")
    return REPO / "tests" / "deploy" / "schemas" / f"{group}_{version}_{obj['kind']}.json".lower()


def _namespaced(obj: Object) -> bool:
    return obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
