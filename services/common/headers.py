"""What may go into a mail header: no line break of any kind, however it is written.

CR and LF split headers; their percent-encoded forms get decoded by careless code on the way;
U+2028, U+2029, NEL, VT, FF and the other Unicode line breaks are line ends to some parsers;
the other C0 and C1 control characters have no business in a header either.
"""

import re

from email_validator import EmailNotValidError, validate_email

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|%0[ad]", re.IGNORECASE)


def check_header_text(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("line breaks and control characters are not allowed in a header")
    return value


def check_address(value: str) -> str:
    """A bare address (no display name), normalised; never echoed back in the error.

    In ASCII, the domain in its IDNA form: mail goes out without SMTPUTF8, where a Unicode
    domain would be RFC 2047-encoded into a broken address. A Unicode local part has no
    ASCII form, so it is refused.
    """
    check_header_text(value)
    try:
        found = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
    assert found.ascii_email is not None  # always set once SMTPUTF8 is not allowed
    return found.ascii_email
