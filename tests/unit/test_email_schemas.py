import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.email.schemas import MessageIn

ADDRESS_FIELDS = ["to", "cc", "bcc", "reply_to"]
# What would start a header of its own, raw or as careless code decodes it.
BREAKS = ["\r\n", "\n", "\r", "%0d%0a", "\u2028", "\x85", "\x00"]


def message(field: str, value: str) -> dict[str, object]:
    lists = {"to", "cc", "bcc"}
    return {
        "to": ["ann@example.com"],
        "template": "notice",
        field: [value] if field in lists else value,
    }


@given(
    field=st.sampled_from([*ADDRESS_FIELDS, "subject"]),
    before=st.emails() | st.text(max_size=20),
    mark=st.sampled_from(BREAKS),
)
def test_a_break_in_any_header_field_is_refused(field, before, mark) -> None:
    with pytest.raises(ValidationError, match="line breaks"):
        MessageIn.model_validate(message(field, f"{before}{mark}Bcc: victim@example.com"))


@given(field=st.sampled_from(ADDRESS_FIELDS), first=st.emails(), second=st.emails())
def test_an_address_field_takes_one_bare_address(field, first, second) -> None:
    for value in (f"{first}, {second}", f"Ann <{first}>", f"{first} {second}"):
        with pytest.raises(ValidationError, match="not a valid email address"):
            MessageIn.model_validate(message(field, value))
