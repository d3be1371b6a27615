"""No CRL rollback: a CRL older than one already seen is never used again.

Putting back yesterday's CRL, still inside its validity, would un-revoke every card revoked
since. So each CA has a high-water mark, the newest CRL seen of it (its CRL number and
thisUpdate, RFC 5280 §5.2.3 and §5.1.2.4), and a CRL below the mark in either is refused.

The marks live in memory, where every validation reads them, and in the server's database
(`crl_high_water`), where every instance and every restart finds them: the start-up reads
them before the first CRL is loaded, and the housekeeping merges both ways every few seconds.
A mark raised by another instance makes this one drop a CRL it already holds when that CRL
is below it, so a rolled-back file at one instance fails closed there too.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import ColumnElement, case, select

from qualification_server.db import upsert_insert
from qualification_server.models import CrlHighWater as CrlHighWaterRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
# RFC 5280 §5.2.3: a CRL number is at most 20 octets, under 10^49; stored zero-padded so that
# the database compares the text as it would the numbers.
NUMBER_DIGITS = 49


@dataclass(frozen=True, slots=True)
class CrlMark:
    """Where a CRL stands in its CA's sequence."""

    number: int  # -1 for a CRL without a CRL number (only thisUpdate then orders it)
    this_update: dt.datetime

    @classmethod
    def of(cls, crl: x509.CertificateRevocationList) -> CrlMark:
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = -1
        return cls(number, crl.last_update_utc)

    def is_below(self, other: CrlMark) -> bool:
        """True if this CRL is older than `other` by its number or by its date."""
        return self.number < other.number or self.this_update < other.this_update

    def joined(self, other: CrlMark) -> CrlMark:
        """The mark of the newest of both in each respect."""
        return CrlMark(max(self.number, other.number), max(self.this_update, other.this_update))


class CrlHighWater:
    """The newest CRL mark seen of each CA (keyed by the CA key's fingerprint). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[str, CrlMark] = {}
        self.version = 0  # raised whenever a mark rises: the trust store then looks again

    def admits(self, ca_key: str, mark: CrlMark) -> bool:
        """True if a CRL at `mark` may be used; if so, the CA's mark rises to it."""
        with self._lock:
            known = self._marks.get(ca_key)
            if known is not None and mark.is_below(known):
                return False
            if known != mark:
                self._marks[ca_key] = mark if known is None else known.joined(mark)
            return True

    def mark_of(self, ca_key: str) -> CrlMark | None:
        with self._lock:
            return self._marks.get(ca_key)

    def merge(self, marks: dict[str, CrlMark]) -> bool:
        """Take marks seen elsewhere; True if any of ours rose."""
        rose = False
        with self._lock:
            for ca_key, mark in marks.items():
                known = self._marks.get(ca_key)
                joined = mark if known is None else known.joined(mark)
                if joined != known:
                    self._marks[ca_key] = joined
                    rose = True
            if rose:
                self.version += 1
        return rose

    def snapshot(self) -> dict[str, CrlMark]:
        with self._lock:
            return dict(self._marks)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops it


def _number_text(number: int) -> str:
    return str(max(number, -1) + 1).zfill(NUMBER_DIGITS)  # -1 (none) sorts first, as 0


def _number_of(text: str) -> int:
    return int(text) - 1


def sync(session: Session, high_water: CrlHighWater) -> bool:
    """Merge the database's marks and ours, both ways, in the caller's transaction. True if
    one of ours rose (the trust store must look at its CRLs again)."""
    stored = {
        row.ca_key: CrlMark(_number_of(row.crl_number), _utc(row.this_update))
        for row in session.scalars(select(CrlHighWaterRow))
    }
    rose = high_water.merge(stored)
    insert = upsert_insert(session)
    for ca_key, mark in high_water.snapshot().items():
        if stored.get(ca_key) == mark:
            continue
        number = _number_text(mark.number)
        statement = insert(CrlHighWaterRow).values(
            ca_key=ca_key, crl_number=number, this_update=mark.this_update
        )
        table = CrlHighWaterRow.__table__
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["ca_key"],
                set_={
                    "crl_number": _greatest(statement.excluded.crl_number, table.c.crl_number),
                    "this_update": _greatest(statement.excluded.this_update, table.c.this_update),
                },
            )
        )
    return rose


def _greatest(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a > b, a), else_=b)
