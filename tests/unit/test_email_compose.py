from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.email import compose as compose_module
from services.email.compose import compose
from services.email.schemas import MessageIn
from services.email.smtp import SmtpTarget
from services.email.templates import TemplateProblem, names, render


def test_the_three_templates_exist_and_render() -> None:
    assert names() == ("notice", "report_ready", "welcome")
    ready = render("report_ready", {"report_name": "Q3", "link": "https://x/r/1"})
    assert ready.subject == 'Your report "Q3" is ready'
    assert "https://x/r/1" in ready.text
    assert 'href="https://x/r/1"' in ready.html


def test_html_is_autoescaped_and_text_is_not() -> None:
    notice = render("notice", {"message": "<script>x</script>"})
    assert "&lt;script&gt;" in notice.html
    assert "<script>x</script>" in notice.text


@pytest.mark.parametrize(
    ("name", "variables"), [("nope", {}), ("welcome", {}), ("report_ready", {"link": "x"})]
)
def test_unknown_templates_and_missing_variables_are_problems(name, variables) -> None:
    with pytest.raises(TemplateProblem):
        render(name, variables)


def payload(**overrides) -> dict:
    base = {"to": ["a@example.com"], "cc": [], "bcc": ["b@example.com"], "template": "notice"}
    return {**base, "variables": {"message": "hi"}, "subject": None, "reply_to": None, **overrides}


def test_compose_builds_multipart_with_a_stable_message_id() -> None:
    message = compose("job-1", payload(), "no-reply@mail.test")
    assert message["Message-ID"] == "<job-1@mail.test>"
    assert message["Bcc"] is None
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize("mark", ["\r\n", "\u2028"], ids=repr)
def test_the_policy_refuses_a_line_break_even_past_the_api(mark) -> None:
    evil = payload(to=[f"a@example.com{mark}Bcc: victim@example.com"])  # to is not re-checked
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        compose("job-1", evil, "no-reply@mail.test")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.test", ("smtp", "mail.test", 25, None, None)),
        ("smtps://u%40x:p%3Aw@mail.test:2465", ("smtps", "mail.test", 2465, "u@x", "p:w")),
        ("smtp+starttls://mail.test", ("smtp+starttls", "mail.test", 587, None, None)),
    ],
)
def test_smtp_urls(url, expected) -> None:
    target = SmtpTarget.from_url(url, timeout=3)
    assert (target.scheme, target.host, target.port, target.username, target.password) == expected


@pytest.mark.parametrize("url", ["http://mail.test", "smtp://", "mail.test:25"])
def test_bad_smtp_urls_are_refused(url) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTarget.from_url(url, timeout=3)


@given(
    to=st.lists(st.emails(), min_size=1, max_size=3),
    cc=st.lists(st.emails(), max_size=2),
    reply_to=st.none() | st.emails(),
    subject=st.none() | st.text(min_size=1, max_size=80),
)
def test_what_the_api_accepts_composes_to_exactly_its_own_headers(to, cc, reply_to, subject):
    fields = {"to": to, "cc": cc, "reply_to": reply_to, "subject": subject, "template": "notice"}
    try:
        message = MessageIn.model_validate(fields).model_dump()
    except ValidationError:
        return
    message["variables"] = {"message": "hi"}
    composed = compose("job-1", message, "no-reply@mail.test")
    sent = message_from_bytes(composed.as_bytes(), policy=default)

    expected = {"Subject", "From", "To", "Date", "Message-ID", "MIME-Version", "Content-Type"}
    expected |= {"Cc"} if cc else set()
    expected |= {"Reply-To"} if reply_to else set()
    assert sorted(sent.keys()) == sorted(expected)
    assert mailboxes(sent, "To") == message["to"]
    assert mailboxes(sent, "Cc") == message["cc"]
    assert mailboxes(sent, "Reply-To") == ([message["reply_to"]] if reply_to else [])
    if subject:
        assert sent["Subject"] == subject


def mailboxes(message: EmailMessage, header: str) -> list[str]:
    return [mailbox.addr_spec for mailbox in message[header].addresses] if header in message else []


def test_the_boundary_is_one_no_part_contains(monkeypatch) -> None:
    tokens = iter(["aa", "bb"])
    monkeypatch.setattr(compose_module.secrets, "token_hex", lambda _: next(tokens))
    message = compose("job-1", payload(variables={"message": "--=_aa"}), "no-reply@mail.test")
    assert message.get_boundary() == "=_bb"
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_messages_share_no_header_that_differs_between_them() -> None:
    first = compose("job-1", payload(to=["a@example.com"]), "one@mail.test")
    second = compose("job-2", payload(to=["z@example.com"]), "two@other.test")
    assert (first["From"], first["To"]) == ("one@mail.test", "a@example.com")
    assert (second["From"], second["To"]) == ("two@other.test", "z@example.com")
    assert first.get_boundary() != second.get_boundary()
