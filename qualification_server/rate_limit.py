"""A limit on lookups by insured-card number per clinic and minute, so the endpoint cannot
become an oracle for guessing numbers and birth dates. Counted in the database (one UPSERT),
so every instance behind the load balancer sees the same count."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from qualification_server.db import upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import LookupWindow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

WINDOW = dt.timedelta(minutes=1)


def window_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(second=0, microsecond=0)


def spend_lookups(
    session: Session, *, clinic_code: str, count: int, limit: int, now: dt.datetime
) -> None:
    """Count `count` lookups for the clinic in this minute, in the caller's transaction.
    Raises `QualificationError(TOO_MANY_LOOKUPS)` (HTTP 429, Retry-After) past `limit`."""
    start = window_start(now)
    insert = upsert_insert(session)
    values = insert(LookupWindow).values(clinic_code=clinic_code, window_start=start, count=count)
    upsert = values.on_conflict_do_update(
        index_elements=["clinic_code", "window_start"],
        set_={"count": LookupWindow.count + values.excluded.count},
    ).returning(LookupWindow.count)
    total = session.execute(upsert).scalar_one()
    if total > limit:
        raise QualificationError(
            Code.TOO_MANY_LOOKUPS, f"{total} lookups this minute, {limit} allowed"
        )
