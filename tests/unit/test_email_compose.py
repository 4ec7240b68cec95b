import pytest

from services.email.compose import compose
from services.email.smtp import SmtpTarget
from services.email.templates import TemplateProblem, names, render


def test_the_three_templates_exist_and_render() -> None:
    assert names() == ["notice", "report_ready", "welcome"]
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
