"""The email service: templated mail out over SMTP, retried, never sent twice."""

SERVICE = "email"
SEND = "email.send"
