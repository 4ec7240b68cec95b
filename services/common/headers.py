"""What may go into a mail header: no line break of any kind, however it is written.

CR and LF split headers; their percent-encoded forms get decoded by careless code on the way;
U+2028, U+2029, NEL, VT, FF and the other Unicode line breaks are line ends to some parsers.
"""

import re

from email_validator import EmailNotValidError, validate_email

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]|%0[ad]", re.IGNORECASE)


def check_header_text(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("line breaks and control characters are not allowed in a header")
    return value


def check_address(value: str) -> str:
    """A bare address (no display name), normalised; never echoed back in the error."""
    check_header_text(value)
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
