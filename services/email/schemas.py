"""What the email API takes and shows. Addresses are never shown back."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.common.api.jobs import JobState
from services.common.headers import check_address, check_header_text

Address = Annotated[str, StringConstraints(max_length=254), AfterValidator(check_address)]
HeaderText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_header_text)
]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[Address] = Field(min_length=1)
    cc: list[Address] = Field(default_factory=list)
    bcc: list[Address] = Field(default_factory=list)
    template: str = Field(pattern=r"^[a-z][a-z_]{0,49}$")
    variables: dict[str, Any] = Field(default_factory=dict)
    subject: HeaderText | None = None
    reply_to: Address | None = None

    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class Delivery(BaseModel):
    """The SMTP server's answer for an accepted message."""

    message_id: str
    smtp_code: int
    smtp_reply: str
    refused: int = Field(0, description="Recipients the server refused (the rest got it)")


class MessageView(JobState):
    template: str
    recipients: int
    delivery: Delivery | None
    links: dict[str, str]
