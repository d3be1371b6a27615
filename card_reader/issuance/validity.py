"""How long a card and its user-authentication certificate live (docs/card.md). No I/O.

The certificate is valid until the holder's 5th birthday after issuance, capped by the
card's expiry; the card of an adult (18 or over at issuance) expires on the 10th birthday
after issuance, a minor's on the 5th.
"""

from __future__ import annotations

import datetime as dt

ADULT_AGE = 18
CERT_BIRTHDAYS = 5
ADULT_CARD_BIRTHDAYS = 10
MINOR_CARD_BIRTHDAYS = 5


def birthday_in(year: int, birth_date: dt.date) -> dt.date:
    """The birthday in `year`; 29 February falls on 28 February in common years."""
    try:
        return birth_date.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)


def nth_birthday_after(birth_date: dt.date, after: dt.date, n: int) -> dt.date:
    """The `n`-th birthday strictly after the date `after`."""
    if n < 1:
        raise ValueError("n counts from 1")
    first_year = after.year if birthday_in(after.year, birth_date) > after else after.year + 1
    return birthday_in(first_year + n - 1, birth_date)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in completed years on `day`."""
    had_birthday = birthday_in(day.year, birth_date) <= day
    return day.year - birth_date.year - (0 if had_birthday else 1)


def card_expiry(birth_date: dt.date, issued_on: dt.date) -> dt.date:
    """The card's expiry date for a card issued on `issued_on`."""
    adult = age_on(birth_date, issued_on) >= ADULT_AGE
    n = ADULT_CARD_BIRTHDAYS if adult else MINOR_CARD_BIRTHDAYS
    return nth_birthday_after(birth_date, issued_on, n)


def auth_certificate_expiry(
    birth_date: dt.date, issued_on: dt.date, card_expires_on: dt.date
) -> dt.date:
    """The last day of the auth certificate issued on `issued_on` for a card with that expiry."""
    return min(nth_birthday_after(birth_date, issued_on, CERT_BIRTHDAYS), card_expires_on)
