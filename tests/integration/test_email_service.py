"""The email API and worker against a real SMTP server (aiosmtpd)."""

import httpx
import pytest

from tests.integration.conftest import EMAIL_ENV
from tests.jobs import logged
from tests.processes import wait_until
from tests.stack import ALPHA, OPS, Stack, wait_for_job

PROBLEM = "application/problem+json"


@pytest.fixture
def api(email_stack) -> httpx.Client:
    with httpx.Client(base_url=email_stack.apis["email"], timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def fresh_script(smtp_server) -> None:
    smtp_server.handler.replies.clear()
    smtp_server.handler.refuse_all_with = None


def welcome(**overrides) -> dict:
    return {
        "to": ["ann@example.com"],
        "template": "welcome",
        "variables": {"name": "Ann"},
        **overrides,
    }


def send(api: httpx.Client, body: dict) -> dict:
    response = api.post("/messages", json=body, headers=ALPHA)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/email/messages/{response.json()['id']}"
    return wait_for_job(api, f"/messages/{response.json()['id']}", ALPHA)


def test_a_message_arrives_with_the_right_headers_and_both_parts(api, smtp_server) -> None:
    body = welcome(
        to=["ann@example.com"],
        cc=["bob@example.org"],
        bcc=["hidden@example.net"],
        variables={"name": "<Ann & co>"},
        reply_to="help@example.com",
    )
    view = send(api, body)
    assert view["status"] == "succeeded"
    assert view["recipients"] == 3
    delivery = view["delivery"]
    assert delivery["smtp_code"] == 250
    assert delivery["smtp_reply"] == "2.0.0 queued"
    [message] = smtp_server.messages(delivery["message_id"])
    assert message["Subject"] == "Welcome to Taskyard, <Ann & co>"
    assert message["To"] == "ann@example.com"
    assert message["Cc"] == "bob@example.org"
    assert message["Bcc"] is None  # bcc only in the envelope
    assert message["Reply-To"] == "help@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hello <Ann & co>," in text
    assert "Hello &lt;Ann &amp; co&gt;," in html  # autoescaped
    assert sorted(smtp_server.recipients_of(delivery["message_id"])) == [
        "ann@example.com",
        "bob@example.org",
        "hidden@example.net",
    ]


def test_the_owner_sees_the_outcome_but_not_the_addresses_again(api) -> None:
    view = send(api, welcome(to=["private.person@example.com"]))
    shown = api.get(f"/messages/{view['id']}", headers=ALPHA).text
    assert "private.person" not in shown
    assert "Ann" not in shown  # nor the variables


def test_transient_451_is_retried_and_delivered_once(api, smtp_server) -> None:
    smtp_server.handler.replies.extend(["451 4.3.0 try again later"] * 2)
    view = send(api, welcome())
    assert view["status"] == "succeeded"
    assert view["attempts"] == 3
    assert len(smtp_server.messages(view["delivery"]["message_id"])) == 1


def test_permanent_550_fails_into_dead_letters_and_replays_after_the_fix(api, smtp_server) -> None:
    smtp_server.handler.refuse_all_with = "550 5.1.1 mailbox unavailable"
    view = send(api, welcome())
    assert view["status"] == "failed"
    assert view["attempts"] == 1  # no retry for a 5xx
    assert "550 5.1.1 mailbox unavailable" in view["error"]
    dead = api.get("/dead-letters", headers=OPS).json()
    assert view["id"] in {letter["id"] for letter in dead}

    smtp_server.handler.refuse_all_with = None  # the fix
    replay = api.post(f"/dead-letters/{view['id']}/replay", headers=OPS)
    assert replay.status_code == 202
    done = wait_for_job(api, f"/messages/{view['id']}", ALPHA)
    assert done["status"] == "succeeded"
    assert len(smtp_server.messages(done["delivery"]["message_id"])) == 1


BREAKS = ["\r\n", "\n", "\r", "%0d%0a", "%0D%0A", "%0a", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"]


@pytest.mark.parametrize("line_break", BREAKS, ids=repr)
@pytest.mark.parametrize("field", ["to", "cc", "bcc", "reply_to", "subject", "subject_variable"])
def test_header_injection_is_refused_at_the_api(api, field, line_break) -> None:
    evil = f"x@example.com{line_break}Bcc: victim@example.com"
    body = welcome()
    if field in ("to", "cc", "bcc"):
        body[field] = [evil]
    elif field == "reply_to":
        body["reply_to"] = evil
    elif field == "subject":
        body["subject"] = f"Hello{line_break}Bcc: victim@example.com"
    else:  # the welcome subject renders {{ name }}
        body["variables"] = {"name": f"Ann{line_break}Bcc: victim@example.com"}
    response = api.post("/messages", json=body, headers=ALPHA)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == PROBLEM
    assert "victim" not in response.text


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (welcome(template="nope"), "unknown template 'nope'"),
        (welcome(variables={}), "'name' is undefined"),
        (welcome(to=[f"r{i}@example.com" for i in range(51)]), "At most 50 recipients"),
        (welcome(to=[]), "request is not valid"),
        (welcome(to=["not-an-address"]), "request is not valid"),
        ({**welcome(), "unexpected": 1}, "request is not valid"),
    ],
)
def test_bad_submissions_are_clear_problems(api, body, detail) -> None:
    response = api.post("/messages", json=body, headers=ALPHA)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_addresses_and_variables_stay_out_of_the_logs(api, email_stack) -> None:
    view = send(api, welcome(to=["log.secret@example.com"], variables={"name": "Zebediah"}))
    assert view["status"] == "succeeded"
    for process in email_stack.processes:
        output = process.output()
        assert "log.secret" not in output
        assert "Zebediah" not in output


def test_idempotency_key_sends_one_message(api, smtp_server) -> None:
    headers = {**ALPHA, "Idempotency-Key": "welcome-ann"}
    first = api.post("/messages", json=welcome(), headers=headers).json()
    again = api.post("/messages", json=welcome(), headers=headers).json()
    assert again["id"] == first["id"]
    other = api.post("/messages", json=welcome(variables={"name": "Bo"}), headers=headers)
    assert other.status_code == 422
    done = wait_for_job(api, f"/messages/{first['id']}", ALPHA)
    assert len(smtp_server.messages(done["delivery"]["message_id"])) == 1


@pytest.fixture
def dying_stack(redis_server, sqlite_url, smtp_server, tmp_path):
    """A worker armed to die right after the SMTP server accepted, before the job is done."""
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path,
        extra_env={"SMTP_URL": smtp_server.url, **EMAIL_ENV},
    )
    try:
        stack.api("email")
        stack.extra_env["TASKYARD_FAILPOINTS"] = "email.after_accept"
        stack.worker("email")
        yield stack
    finally:
        stack.stop()


def test_a_worker_killed_after_the_server_accepted_sends_no_second_copy(
    dying_stack, smtp_server
) -> None:
    with httpx.Client(base_url=dying_stack.apis["email"], timeout=10) as api:
        view = send(api, welcome())
    assert view["status"] == "succeeded"
    assert view["attempts"] == 1  # the run that died had marked the job done at the 250
    worker = dying_stack.processes[-1]
    wait_until(lambda: "WorkerLostError" in worker.output(), timeout=5, what="the kill in the log")
    # Its message, handed back by the dead run, came again and was skipped.
    wait_until(
        lambda: logged(worker.output(), "job skipped", view["id"]),
        timeout=30,
        what="the redelivered message to be skipped",
    )
    assert len(smtp_server.messages(view["delivery"]["message_id"])) == 1
