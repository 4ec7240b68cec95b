"""Named points where a chaos test can kill the process, to prove a guarantee holds there.

Off unless TASKYARD_FAILPOINTS names the point (comma-separated); production never sets it.
"""

import os
import signal

_ARMED = frozenset(filter(None, os.environ.get("TASKYARD_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
