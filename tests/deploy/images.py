"""What every image reference in the deployment files must be: pinned, and registry-neutral."""

import re


def check_image(reference: str) -> None:
    # A registry host is a first path part with a dot or a port, or localhost.
    host = reference.split("/", maxsplit=1)[0] if "/" in reference else ""
    assert not re.search(r"[.:]|^localhost$", host), f"{reference} names a registry"
    name, _, tag = reference.rpartition(":")
    assert name, f"{reference} has no tag"
    assert "/" not in tag, f"{reference} has no tag"
    assert tag != "latest", reference
    assert re.search(r"\d", tag), f"{reference} is not pinned to a version"
