"""Expired-certificate grace (docs/domain.md): a physical card whose user-authentication
certificate has expired still answers a card check for three more months, qualification
information only. No I/O.

"Three months" [chosen]: through the same day of the month three calendar months after the
certificate's notAfter date in Japan time (the last day of that month when it is shorter),
judged by the check's Japan date. A smartphone's certificate (スマホ用電子証明書) gets no grace:
`grace_last_day` takes the credential's kind so that one can be added without touching the
check.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from typing import TYPE_CHECKING

from onshi_kernel.japan_time import japan_date

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography import x509


class CredentialKind(enum.Enum):
    """What holds the certificate. Only physical cards exist today; a smartphone's
    certificate would be a member of its own, with no entry in `GRACE_MONTHS`."""

    PHYSICAL_CARD = "physical card"


# The months of grace each kind gets after its certificate expires; a kind not listed (a
# smartphone's certificate) gets none.
GRACE_MONTHS: Mapping[CredentialKind, int] = {CredentialKind.PHYSICAL_CARD: 3}


def kind_of(certificate: x509.Certificate) -> CredentialKind:
    """The kind of credential `certificate` is on: every certificate onshi trusts is a
    physical card's (how a smartphone's would be told apart, by its CA or its policy, is
    not known)."""
    return CredentialKind.PHYSICAL_CARD


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
