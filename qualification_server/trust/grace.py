"""Expired-certificate grace (docs/domain.md): a physical card whose user-authentication
certificate has expired still answers a card check for three more months, qualification
information only. No I/O.

"Three months" [chosen]: through the same day of the month three calendar months after the
certificate's notAfter date in Japan time (the last day of that month when it is shorter),
judged by the check's Japan date. A smartphone's certificate (スマホ用電子証明書) gets no grace:
`grace_last_day` takes the credential's kind, which is its CA's: the server is told which CAs
are smartphones' (`ONSHI_JPKI_SMARTPHONE_CA_FILES`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from typing import TYPE_CHECKING

from onshi_kernel.japan_time import japan_date

if TYPE_CHECKING:
    from collections.abc import Mapping


class CredentialKind(enum.Enum):
    """What holds the certificate: a physical card (the face card too) or a smartphone."""

    PHYSICAL_CARD = "physical card"
    SMARTPHONE = "smartphone"


# The months of grace each kind gets after its certificate expires; a kind not listed (a
# smartphone's certificate) gets none.
GRACE_MONTHS: Mapping[CredentialKind, int] = {CredentialKind.PHYSICAL_CARD: 3}


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, or that month's last day if it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def grace_last_day(kind: CredentialKind, not_after: dt.datetime) -> dt.date | None:
    """The last Japan date on which a certificate of `kind` that expired at `not_after` is
    still answered, or None if it gets no grace."""
    months = GRACE_MONTHS.get(kind)
    if months is None:
        return None
    return months_after(japan_date(not_after), months)


def in_grace(kind: CredentialKind, not_after: dt.datetime, at: dt.datetime) -> bool:
    """Whether a certificate of `kind` that expired at `not_after` is in grace at `at`."""
    last = grace_last_day(kind, not_after)
    return last is not None and at > not_after and japan_date(at) <= last
