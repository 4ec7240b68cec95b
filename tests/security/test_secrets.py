"""Secrets stay secret: API keys are compared in constant time (tests/unit/test_auth.py checks
that only their digests are kept), and nothing a stack is given in confidence (API keys, the SMTP
login, Redis and database passwords, recipients' addresses) reaches any process's log."""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from services.common.api import auth
from tests.conftest import RedisServer
from tests.processes import wait_until
from tests.smtp import SmtpServer
from tests.stack import ALPHA, API_KEYS, BETA, OPS, QUEUES, Stack, upload_dataset, wait_for_job

REDIS_PASSWORD = f"redis-secret-{uuid.uuid4().hex[:8]}"
DATABASE_PASSWORD = f"db-secret-{uuid.uuid4().hex[:8]}"
UNKNOWN_KEY = f"not-a-key-{uuid.uuid4().hex[:8]}"
# user:password@ in any URL, whoever's it is; Celery's own masking (user:**@) is fine.
CREDENTIALED_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@:'\"]*:(?!\*+@)[^\s/@'\"]+@")


def test_a_key_is_compared_with_every_stored_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit and nothing but fixed-size digests compared: how long authenticate takes
    tells neither which key matched nor how close a guess came."""
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(
        auth.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b)
    )
    entries = API_KEYS.split(",")
    keys = auth.ApiKeys(entries)

    for presented in ("alpha-key", "ops-key", UNKNOWN_KEY, ""):
        compared.clear()
        keys.authenticate(presented)
        assert len(compared) == len(entries), presented
        assert {(len(a), len(b)) for a, b in compared} == {(32, 32)}, presented


@contextmanager
def redis_login(server: RedisServer) -> Iterator[str]:
    """A Redis user of the stack's own, so that every REDIS_URL holds a password."""
    user = f"taskyard-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        client.acl_setuser(
            user,
            enabled=True,
            passwords=[f"+{REDIS_PASSWORD}"],
            keys=["*"],
            channels=["*"],
            commands=["+@all"],
        )
        try:
            yield f"redis://{user}:{REDIS_PASSWORD}@127.0.0.1:{server.port}/0"
        finally:
            client.acl_deluser(user)


@contextmanager
def postgres_login(url: str) -> Iterator[str]:
    """A role with a password and a schema of its own (the session's schema holds tables other
    suites made, which the role may not touch), so that DATABASE_URL holds a password."""
    role = f"taskyard_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{DATABASE_PASSWORD}'"))
        conn.execute(text(f'CREATE SCHEMA "{role}" AUTHORIZATION {role}'))
    try:
        login = make_url(url).set(
            username=role,
            password=DATABASE_PASSWORD,
            query={"options": f"-csearch_path={role}"},
        )
        yield login.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role} CASCADE"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.fixture(scope="module")
def secret_stack(
    redis_server: RedisServer,
    postgres_url: str,
    smtp_server: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Every kind of process the stack runs, with a credential in every URL it is given."""
    with redis_login(redis_server) as redis_url, postgres_login(postgres_url) as database_url:
        stack = Stack(
            redis_url,
            database_url,
            tmp_path_factory.mktemp("secrets"),
            extra_env={"SMTP_URL": smtp_server.url, "TASKYARD_RETRY_BACKOFF_SECONDS": "1"},
        )
        try:
            stack.every_service()
            stack.queue_exporter(*QUEUES)
            # One Flower: the three are the same program.
            stack.gateway_url = stack.gateway(**stack.apis, flower_email=stack.flower("email"))
            yield stack
        finally:
            stack.stop()


def test_no_secret_reaches_any_log(secret_stack: Stack, smtp_server: SmtpServer) -> None:
    recipients = {
        role: f"{role}-{uuid.uuid4().hex[:8]}@example.org"
        for role in ("to", "cc", "bcc", "deferred", "refused", "notified")
    }
    with httpx.Client(base_url=secret_stack.gateway_url, timeout=10, trust_env=False) as client:
        _use_every_key(client)
        _send_mail(client, smtp_server, recipients)
        _mail_a_report(client, smtp_server, recipients["notified"])
    secret_stack.stop()  # every process flushes its last lines on the way out

    secrets = [entry.split(":")[1] for entry in API_KEYS.split(",")]
    secrets += [UNKNOWN_KEY, SmtpServer.password, REDIS_PASSWORD, DATABASE_PASSWORD]
    secrets += recipients.values()
    logs = {log.name: log.read_text(errors="replace") for log in secret_stack.workdir.glob("*.log")}
    assert len(logs) == len(secret_stack.processes)
    # The refusals were logged, with the domain only: the check looked where the addresses were.
    assert any("<***@example.org>" in content for content in logs.values())
    leaks = {
        name: [secret for secret in secrets if secret in content]
        + CREDENTIALED_URL.findall(content)
        for name, content in logs.items()
    }
    assert not {name: found for name, found in leaks.items() if found}


def _use_every_key(client: httpx.Client) -> None:
    for headers, status in ((ALPHA, 403), (BETA, 403), (OPS, 200)):  # OPS is the admin key
        assert client.get("/email/dead-letters", headers=headers).status_code == status
    assert client.get("/flower/email/", headers=OPS).status_code == 200
    unknown = {"Authorization": f"Bearer {UNKNOWN_KEY}"}
    assert client.get("/ingest/jobs/x", headers=unknown).status_code == 401


def _send_mail(client: httpx.Client, smtp_server: SmtpServer, recipients: dict[str, str]) -> None:
    def mail(**addresses: list[str]) -> dict:
        body = {"template": "welcome", "variables": {"name": "Ann"}, **addresses}
        sent = client.post("/email/messages", json=body, headers=ALPHA)
        return wait_for_job(client, sent.headers["Location"], ALPHA, timeout=90)

    to, cc, bcc = recipients["to"], recipients["cc"], recipients["bcc"]
    assert mail(to=[to], cc=[cc], bcc=[bcc])["status"] == "succeeded"
    # Servers name the address in their refusals (Postfix: "<ann@example.com>: Recipient
    # address rejected"): once for later (a retry), once for good (a failure).
    smtp_server.handler.replies.append(f"451 4.7.1 <{recipients['deferred']}>: try again later")
    assert mail(to=[recipients["deferred"]])["status"] == "succeeded"
    smtp_server.handler.replies.append(f"550 5.1.1 <{recipients['refused']}>: Recipient unknown")
    assert mail(to=[recipients["refused"]])["status"] == "failed"


def _mail_a_report(client: httpx.Client, smtp_server: SmtpServer, address: str) -> None:
    dataset_id = upload_dataset(client, "secrets", 10)
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    report = client.post("/reports", json={**spec, "notify": address}, headers=ALPHA)
    assert wait_for_job(client, report.headers["Location"], ALPHA)["status"] == "succeeded"

    def mailed() -> bool:
        return any(address in envelope.rcpt_tos for envelope in smtp_server.handler.envelopes)

    wait_until(mailed, timeout=60, what="the report's notification to be sent")
