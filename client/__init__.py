"""The Taskyard client: a typed SDK (sync and async, on httpx) and the `taskyard` command."""

from client.calls import TaskyardError
from client.sdk import AsyncTaskyard, Job, Taskyard

__all__ = ["AsyncTaskyard", "Job", "Taskyard", "TaskyardError"]
