import re
import unicodedata
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.headers import check_address, check_header_text

LINE_BREAKS = [
    "\r",
    "\n",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]
ENCODED = ["%0d", "%0a", "%0D%0A", "%0d%0a", "%0A"]
# Every break form and control character, mixed into ordinary text at any place.
BREAKS = [*LINE_BREAKS, *ENCODED, "\x00", "\x7f", "\x9b"]
header_like = st.lists(st.text(max_size=4) | st.sampled_from([*BREAKS, "%", "%0"])).map("".join)


@pytest.mark.parametrize("mark", BREAKS, ids=repr)
def test_every_line_break_form_is_refused(mark) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        check_header_text(f"Hello{mark}Bcc: victim@example.com")
    with pytest.raises(ValueError, match="line breaks"):
        check_address(f"a@example.com{mark}")


def test_addresses_are_normalised_and_errors_do_not_echo_them() -> None:
    assert check_address("Ann@Example.COM") == "Ann@example.com"
    assert check_address("ann@Bücher.de") == "ann@xn--bcher-kva.de"  # as SMTP sends it
    with pytest.raises(ValueError, match="not a valid email address"):
        check_address("jörg@example.com")  # no ASCII form without SMTPUTF8
    with pytest.raises(ValueError, match="not a valid email address") as error:
        check_address("secret-not-an-address")
    assert "secret" not in str(error.value)


@given(header_like | st.text())
def test_accepted_header_text_is_unchanged_and_holds_no_break_or_control(text) -> None:
    try:
        checked = check_header_text(text)
    except ValueError:
        return
    assert checked == text
    assert not any(unicodedata.category(char) == "Cc" for char in checked)
    assert not re.search("%0[ad]", checked, re.IGNORECASE)
    assert checked.splitlines() in ([], [checked])


@given(st.text(), st.sampled_from(BREAKS), st.text())
def test_a_break_anywhere_is_refused(before, mark, after) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        check_header_text(before + mark + after)
    with pytest.raises(ValueError, match="line breaks"):
        check_address(before + mark + after)


@given(st.emails() | header_like)
def test_an_accepted_address_round_trips_as_one_header_with_one_address(address) -> None:
    try:
        checked = check_address(address)
    except ValueError:
        return
    assert check_address(checked) == checked
    message = EmailMessage(policy=SMTP)
    message["To"] = checked
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert parsed.keys() == ["To"]
    assert [mailbox.addr_spec for mailbox in parsed["To"].addresses] == [checked]
