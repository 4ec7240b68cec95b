"""Black-box: a templated mail sent through the gateway arrives at the SMTP server."""

from tests.stack import ALPHA, wait_for_job


def test_send_a_templated_mail_through_the_gateway(gateway, smtp_server) -> None:
    body = {"to": ["ann@example.com"], "template": "notice", "variables": {"message": "Hi there"}}
    response = gateway.post("/email/messages", json=body, headers=ALPHA)
    assert response.status_code == 202
    view = wait_for_job(gateway, response.headers["Location"], ALPHA)
    assert view["status"] == "succeeded"
    [message] = smtp_server.messages(view["delivery"]["message_id"])
    assert message["Subject"] == "A notice from Taskyard"
    assert message.get_body(("plain",)).get_content().strip() == "Hi there"


def test_injection_is_refused_through_the_gateway(gateway) -> None:
    body = {
        "to": ["a@example.com%0d%0aBcc:x@example.com"],
        "template": "notice",
        "variables": {"message": "x"},
    }
    response = gateway.post("/email/messages", json=body, headers=ALPHA)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"


def test_email_docs_behind_the_prefix(gateway) -> None:
    assert "/email/openapi.json" in gateway.get("/email/docs").text
    assert "/messages" in gateway.get("/email/openapi.json").json()["paths"]
