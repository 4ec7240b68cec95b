"""Email's own knobs on top of the shared settings."""

from pydantic import AliasChoices, Field

from services.common.settings import Settings


class EmailSettings(Settings):
    smtp_url: str = Field(
        "smtp://127.0.0.1:8025", validation_alias=AliasChoices("SMTP_URL", "TASKYARD_SMTP_URL")
    )
    email_sender: str = "no-reply@taskyard.localhost"
    email_max_recipients: int = 50
    email_smtp_timeout: float = 10.0
    # A send takes milliseconds to a second: each process fetches the next while one runs.
    worker_prefetch: int = Field(2, ge=1)
    # Sends per second to one recipient domain, across every worker replica; 0 for no limit
    # (a relay that paces its own deliveries).
    email_domain_rate: float = Field(5.0, ge=0)
