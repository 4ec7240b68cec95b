"""Configuration from the environment (12-factor), one class for what every service shares."""

from functools import cached_property
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every process reads this once at start; services subclass it for their own knobs."""

    model_config = SettingsConfigDict(env_prefix="TASKYARD_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6381/0", validation_alias=AliasChoices("REDIS_URL", "TASKYARD_REDIS_URL")
    )
    database_url: str = Field(
        "sqlite:///var/taskyard.db",
        validation_alias=AliasChoices("DATABASE_URL", "TASKYARD_DATABASE_URL"),
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = ("demo:demo-key:admin",)
    key_namespace: str = "taskyard"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # Redis socket timeouts: a dead broker must be a fast error, never a hang.
    redis_connect_timeout: float = 0.5
    redis_socket_timeout: float = 2.0
    retry_after_seconds: int = 5
    # Waiting jobs (the queue's list and the delayed set) past which a queue refuses new
    # ones with 429, rather than growing Redis until it runs out of memory; 0 for no limit.
    max_backlog: int = 100_000

    # Celery's Redis transport redelivers anything unacknowledged for this long; every
    # time limit and countdown stays below it or tasks run twice (celery#5935).
    visibility_timeout: int = 3600
    # A message a worker popped and never recorded (it or Redis died in between) goes back to
    # its queue after this long (transport.py); far above the milliseconds the two steps take.
    inflight_grace_seconds: float = 30.0
    task_time_limit: int = 1800
    task_soft_time_limit: int = 1700
    max_attempts: int = 5
    # Whole seconds: the jitter is drawn with randrange.
    retry_backoff_seconds: int = 2
    retry_backoff_max_seconds: int = 300
    # Messages each pool process holds, its running one included. 1 takes a message only
    # when a process is free: nothing waits behind a long job, and the queue's list (what KEDA
    # reads) is the whole backlog. 2 lets a queue of short jobs fetch the next one while one
    # runs (services/email/settings.py).
    worker_prefetch: int = Field(1, ge=1)
    # A process is replaced after this many tasks; the memory cap below catches leaks sooner.
    worker_max_tasks_per_child: int = 10_000
    worker_max_memory_per_child_kib: int = 512_000
    worker_soft_shutdown_timeout: float = 30.0
    worker_heartbeat_file: str = ""
    worker_heartbeat_interval: float = 10.0
    # The worker's Prometheus endpoint; 0 serves none. Needs PROMETHEUS_MULTIPROC_DIR.
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"

    finished_job_ttl_seconds: int = 7 * 24 * 3600
    idempotency_ttl_seconds: int = 24 * 3600
    events_poll_interval: float = 0.25

    @model_validator(mode="before")
    @classmethod
    def _split_api_keys(cls, data: dict[str, object]) -> dict[str, object]:
        keys = data.get("api_keys")
        if isinstance(keys, str):
            data["api_keys"] = tuple(part.strip() for part in keys.split(",") if part.strip())
        return data

    @model_validator(mode="after")
    def _time_limits_below_visibility_timeout(self) -> "Settings":
        if not self.task_soft_time_limit < self.task_time_limit < self.visibility_timeout:
            raise ValueError(
                "need task_soft_time_limit < task_time_limit < visibility_timeout, got "
                f"{self.task_soft_time_limit} / {self.task_time_limit} / {self.visibility_timeout}"
            )
        if self.retry_backoff_max_seconds >= self.visibility_timeout:
            raise ValueError("retry_backoff_max_seconds must stay below visibility_timeout")
        return self

    @cached_property
    def max_countdown_seconds(self) -> int:
        """The longest delay a message may wait on the queue before Redis redelivers it."""
        return self.visibility_timeout - self.task_time_limit
