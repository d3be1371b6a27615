"""個人番号 (My Number): format, check digit, and the pseudonymous reference derived from it.

12 digits, the last a check digit (docs/numbers.md). With the first 11 digits read from the
right as P1..P11 and weights Qn = n+1 for n=1..6 and n-5 for n=7..11, r = Σ Pn·Qn mod 11 and
the check digit is 0 if r ≤ 1, else 11 − r.

By law a My Number is not a lookup key for eligibility and this project never stores or logs
one in the clear: everything past the edge that received it works with `person_reference`,
a keyed hash that cannot be reversed without the key.
"""

from __future__ import annotations

import hashlib
import hmac

MY_NUMBER_LENGTH = 12


class InvalidMyNumber(ValueError):
    """A string that is not a valid My Number. The message never repeats the digits."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid My Number: {reason}")
        self.reason = reason


def check_digit(first_eleven: str) -> int:
    """The check digit for the first 11 digits of a My Number."""
    if len(first_eleven) != MY_NUMBER_LENGTH - 1 or not first_eleven.isascii():
        raise InvalidMyNumber("expected 11 ASCII digits before the check digit")
    if not first_eleven.isdigit():
        raise InvalidMyNumber("expected digits only")
    total = 0
    for n, char in enumerate(reversed(first_eleven), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(char) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def validate_my_number(value: str) -> str:
    """Return `value` if it is a well-formed My Number; raise `InvalidMyNumber` otherwise."""
    if len(value) != MY_NUMBER_LENGTH:
        raise InvalidMyNumber(f"expected {MY_NUMBER_LENGTH} digits, got {len(value)} characters")
    if not (value.isascii() and value.isdigit()):
        raise InvalidMyNumber("expected digits only")
    if check_digit(value[:-1]) != int(value[-1]):
        raise InvalidMyNumber("check digit does not match")
    return value


def is_valid_my_number(value: str) -> bool:
    """True if `value` is a well-formed My Number."""
    try:
        validate_my_number(value)
    except InvalidMyNumber:
        return False
    return True


def complete_my_number(first_eleven: str) -> str:
    """Append the check digit to 11 digits (used to make test residents)."""
    return first_eleven + str(check_digit(first_eleven))


def person_reference(my_number: str, key: bytes) -> str:
    """The pseudonymous reference of the person with this My Number.

    HMAC-SHA-256 under a system secret shared by the card issuer's directory and the insurer
    registry, so both name the same person without either keeping the number. Hex, 64 chars.
    """
    if len(key) < 16:
        raise ValueError("the pseudonym key must be at least 16 bytes")
    validate_my_number(my_number)
    return hmac.new(key, my_number.encode("ascii"), hashlib.sha256).hexdigest()


# The key used when none is configured. Settings refuse it outside development (ONSHI_ENV).
DEVELOPMENT_PSEUDONYM_KEY = b"onshi-development-pseudonym-key-not-for-production"
