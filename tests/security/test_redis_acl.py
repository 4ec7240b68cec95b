"""Per-service Redis ACL users (services/common/redis_acl.py) on a real redis-server loaded
from the rendered aclfile: each service works fully as its own user, and no user reaches
another service's keys and channels or the server's admin commands."""

import hashlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.common.jobs.keys import QueueKeys
from services.common.redis_acl import EXPORTER, password_variable
from services.reports import RELEASE_DUE
from tests.conftest import RedisServer
from tests.processes import REPO, Process, wait_until
from tests.scrape import samples, total
from tests.stack import (
    ALPHA,
    QUEUES,
    Stack,
    upload_dataset,
    wait_for_flower_to_count_a_mail,
    wait_for_job,
)

NAMESPACE = f"t{uuid.uuid4().hex[:8]}"
PASSWORDS = {user: secrets.token_hex(16) for user in (*QUEUES, EXPORTER)}
# The test's own user, added to the rendered file: it reads the ACL LOG of refused commands.
ADMIN_PASSWORD = secrets.token_hex(16)
ADMIN = f"user admin on #{hashlib.sha256(ADMIN_PASSWORD.encode()).hexdigest()} ~* &* +@all\n"


def render_aclfile(path: Path) -> Path:
    """The aclfile, written by the command operators run."""
    passwords = {password_variable(user): password for user, password in PASSWORDS.items()}
    env = {**os.environ, **passwords, "TASKYARD_KEY_NAMESPACE": NAMESPACE}
    args = [sys.executable, "-m", "services.common.redis_acl", *QUEUES]
    args += ["--submit", "reports=email", "--output", str(path)]
    subprocess.run(args, env=env, cwd=REPO, check=True)
    return path


class AclRedisServer(RedisServer):
    """The tests' redis-server started with an aclfile; it is ready once ``user`` can ping."""

    def __init__(self, workdir: Path, aclfile: Path, user: str, password: str) -> None:
        super().__init__(workdir)
        self.process.args += ["--aclfile", str(aclfile)]
        self.aclfile, self.user, self.password = aclfile, user, password

    @property
    def url(self) -> str:
        return self.url_for(self.user, self.password)

    def url_for(self, user: str, password: str | None = None) -> str:
        return f"redis://{user}:{password or PASSWORDS[user]}@127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedisServer]:
    workdir = tmp_path_factory.mktemp("redis-acl")
    aclfile = render_aclfile(workdir / "users.acl")
    aclfile.write_text(aclfile.read_text() + ADMIN)
    server = AclRedisServer(workdir, aclfile, "admin", ADMIN_PASSWORD).start()
    yield server
    server.stop()


def client(server: AclRedisServer, user: str) -> redis.Redis:
    return redis.Redis.from_url(server.url_for(user), decode_responses=True, socket_timeout=5)


def test_the_rendered_file_loads_with_hashes_only_and_the_default_user_off(server) -> None:
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_text()
    for secret in (*PASSWORDS.values(), ADMIN_PASSWORD):
        assert secret not in server.aclfile.read_text()
        assert secret not in cmdline
    for user in QUEUES:
        with client(server, user) as own:
            assert own.ping()
    # No retries: redis-py retries a refused login as it would a lost connection.
    anonymous = redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))
    with anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()


def test_every_service_works_fully_as_its_own_user(server, sqlite_url, smtp_server, tmp_path):
    stack = Stack(
        server.url_for(EXPORTER),  # the queue exporter's, and the tests' reads of Redis
        sqlite_url,
        tmp_path,
        namespace=NAMESPACE,
        redis_urls={service: server.url_for(service) for service in QUEUES},
        extra_env={
            "SMTP_URL": smtp_server.url,
            "FLOWER_UNAUTHENTICATED_API": "true",  # Flower listens on 127.0.0.1 only
            "TASKYARD_REPORTS_RELEASE_INTERVAL": "1",
        },
    )
    with redis.Redis.from_url(server.url) as admin:
        admin.acl_log_reset()  # what another test had refused on purpose
    try:
        stack.every_service(concurrency=1)
        stack.flower("email")  # one Flower: every service's channels are granted alike
        exporter = stack.queue_exporter(*QUEUES)
        with httpx.Client(base_url=stack.gateway(**stack.apis), timeout=10) as gateway:
            _drive_every_service(gateway, smtp_server)
            _flower_sees_tasks_and_workers(stack, "email", gateway)
        _exporter_counts_every_queue(exporter)
        # The beat's tick reached the reports worker through the reports queue.
        ticks = stack.worker_metrics["reports"]
        wait_until(
            lambda: total(ticks, "celery_task_succeeded_total", name=RELEASE_DUE) > 0,
            timeout=20,
            what="the beat's release_due to run",
        )
    finally:
        # Side by side: each worker's warm shutdown takes a while.
        with ThreadPoolExecutor() as pool:
            pool.map(Process.stop, stack.processes)
    with redis.Redis.from_url(server.url, decode_responses=True) as admin:
        refused = [
            (entry["username"], entry["object"], entry["reason"]) for entry in admin.acl_log()
        ]
    assert not refused, f"Redis refused commands of a service: {refused}"


def _drive_every_service(gateway: httpx.Client, smtp_server) -> None:
    """A dataset, a mail, a report that notifies by mail, and a schedule kept by RedBeat."""
    dataset_id = upload_dataset(gateway, "acl", 20)
    mail = {"to": ["ann@example.com"], "template": "notice", "variables": {"message": "Hi"}}
    sent = gateway.post("/email/messages", json=mail, headers=ALPHA)
    assert wait_for_job(gateway, sent.headers["Location"], ALPHA)["status"] == "succeeded"
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    built = gateway.post("/reports", json={**spec, "notify": "boss@example.com"}, headers=ALPHA)
    report = wait_for_job(gateway, built.headers["Location"], ALPHA)
    assert report["status"] == "succeeded", report
    notice = wait_for_job(gateway, f"/email/messages/{report['notify_job_id']}", ALPHA)
    assert notice["status"] == "succeeded", notice
    assert smtp_server.messages(notice["delivery"]["message_id"])
    yearly = gateway.post("/reports/schedules", json={**spec, "cron": "0 0 1 1 *"}, headers=ALPHA)
    assert yearly.status_code == 201, yearly.text
    assert gateway.delete(yearly.headers["Location"], headers=ALPHA).status_code == 204


def _flower_sees_tasks_and_workers(stack: Stack, service: str, gateway: httpx.Client) -> None:
    """Flower's call for task events reaches the workers over the remote-control channel, the
    events reach Flower over the events channel; the workers Flower lists are those that
    answered its inspect."""
    api = f"{stack.flowers[service]}/flower/{service}/api"

    def answer(path: str, **params: int) -> dict:
        return dict(httpx.get(f"{api}/{path}", params=params, timeout=10).json())

    wait_for_flower_to_count_a_mail(gateway, stack.flowers[service])
    assert answer("tasks")
    wait_until(
        lambda: any(name.startswith(f"{service}-worker-") for name in answer("workers", refresh=1)),
        timeout=15,
        what=f"{service}'s worker to answer Flower's inspect",
    )


def _exporter_counts_every_queue(url: str) -> None:
    def counted() -> bool:
        return all(
            total(url, "taskyard_queue_consumers", queue_name=queue) == 1
            and total(url, "taskyard_jobs_finished_total", queue_name=queue, status="succeeded")
            for queue in QUEUES
        )

    wait_until(counted, timeout=20, what="the exporter to count every queue's workers and jobs")
    assert total(url, "taskyard_broker_up") == 1
    per_queue = {
        (name, labels["queue_name"]) for name, labels, _ in samples(url) if "queue_name" in labels
    }
    families = {name for name, _ in per_queue}
    assert per_queue == {(name, queue) for name in families for queue in QUEUES}


# What no user may do: the server's admin commands, and the ones that list every service's keys.
SERVER_WIDE = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("RANDOMKEY",),
    ("INFO",),
    ("CLIENT", "LIST"),
    ("ACL", "LIST"),
    ("PUBSUB", "CHANNELS"),
    ("SCRIPT", "FLUSH"),
    ("FUNCTION", "FLUSH"),
    ("MONITOR",),
]


def _reads(keys: QueueKeys) -> list[tuple[str, ...]]:
    return [
        ("GET", keys.idempotency("alpha", "k")),
        ("HGETALL", keys.job("j1")),
        ("LRANGE", keys.queue_list, "0", "-1"),
        ("HGETALL", keys.reserved),
        ("ZCARD", keys.consumers),
        ("SMEMBERS", f"{keys.prefix}_kombu.binding.{keys.queue}"),
        *(("SUBSCRIBE", channel) for channel in keys.channels),
        *(("PSUBSCRIBE", channel) for channel in keys.channels),
    ]


def _writes(keys: QueueKeys) -> list[tuple[str, ...]]:
    return [
        ("SET", keys.idempotency("alpha", "k"), "j1 hash"),
        ("HSET", keys.job("j1"), "status", "queued"),
        ("HINCRBY", keys.status_counts, "queued", "1"),
        ("LPUSH", keys.queue_list, "{}"),
        ("RPOP", keys.queue_list),
        ("DEL", keys.job("j1")),
        ("ZADD", keys.dead_letters, "1", "j1"),
        ("SET", keys.prefix + "x", "1"),
        *(("PUBLISH", channel, "x") for channel in keys.channels),
    ]


def _allowed(server: AclRedisServer, user: str, command: tuple[str, ...]) -> bool:
    with client(server, user) as connection:
        try:
            if command[0] in ("SUBSCRIBE", "PSUBSCRIBE"):
                with connection.pubsub() as pubsub:
                    getattr(pubsub, command[0].lower())(*command[1:])
                    pubsub.get_message(timeout=1)
            else:
                connection.execute_command(*command)
        except redis.exceptions.NoPermissionError:
            return False
    return True


def test_no_user_reaches_another_service_or_the_server(server) -> None:
    keys = {service: QueueKeys(NAMESPACE, service) for service in QUEUES}
    email = keys["email"]
    # The one reach across services: reports submits its notification into email's ledger
    # (redis_acl._submit_selectors), and nothing more; the exporter reads every queue.
    expected = {
        ("reports", "GET", email.idempotency("alpha", "k")),
        ("reports", "HGETALL", email.job("j1")),
        ("reports", "SET", email.idempotency("alpha", "k")),
        ("reports", "HSET", email.job("j1")),
        ("reports", "HINCRBY", email.status_counts),
        ("reports", "LPUSH", email.queue_list),
    }
    expected |= {
        (EXPORTER, command[0], command[1])
        for service_keys in keys.values()
        for command in _reads(service_keys)
        if "SUBSCRIBE" not in command[0]
    }
    attempts = [
        (user, command)
        for user in (*QUEUES, EXPORTER)
        for service in QUEUES
        if service != user
        for command in _reads(keys[service]) + _writes(keys[service])
    ]
    attempts += [(user, command) for user in (*QUEUES, EXPORTER) for command in SERVER_WIDE]
    try:
        allowed = {
            (user, command[0], command[1]) if len(command) > 1 else (user, command[0], "")
            for user, command in attempts
            if _allowed(server, user, command)
        }
    finally:  # what allowed writes left behind
        written = {command[1] for each in keys.values() for command in _writes(each)}
        with redis.Redis.from_url(server.url) as admin:
            admin.delete(*written)
    assert allowed == expected
