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


@pytest.mark.parametrize("mark", LINE_BREAKS + ENCODED + ["\x00", "\x7f"], ids=repr)
def test_every_line_break_form_is_refused(mark) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        check_header_text(f"Hello{mark}Bcc: victim@example.com")
    with pytest.raises(ValueError, match="line breaks"):
        check_address(f"a@example.com{mark}")


@given(st.text())
def test_accepted_header_text_never_holds_a_line_break(text) -> None:
    try:
        checked = check_header_text(text)
    except ValueError:
        return
    assert not any(mark in checked for mark in LINE_BREAKS)
    assert "%0d" not in checked.lower()
    assert "%0a" not in checked.lower()
    assert checked.splitlines() in ([], [checked])


def test_addresses_are_normalised_and_errors_do_not_echo_them() -> None:
    assert check_address("Ann@Example.COM") == "Ann@example.com"
    with pytest.raises(ValueError, match="not a valid email address") as error:
        check_address("secret-not-an-address")
    assert "secret" not in str(error.value)
