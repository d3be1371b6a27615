"""Rate limits on lookups by insured-card number, so the endpoints cannot become an oracle
for guessing numbers and birth dates. Three budgets per clinic, in fixed windows, counted in
the database (one UPSERT each) so every instance behind the load balancer sees the same
counts:

- lookups: single lookups (個別照会) a minute;
- batch entries: entries of batch lookups (一括照会) a day (a day's appointments, not more);
- misses: answers "no such insured number / birth date" an hour, single and batch together.
  A clinic that looks up its own patients rarely misses; one that guesses mostly misses, so
  this budget is small and, once spent, stops every lookup of the clinic for the rest of
  the hour, the rest of a batch included.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import select

from qualification_server.db import upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import LookupBudget

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Budget(enum.Enum):
    """A budget and the length of its window."""

    LOOKUPS = ("lookups", dt.timedelta(minutes=1))
    BATCH_ENTRIES = ("batch-entries", dt.timedelta(days=1))
    MISSES = ("misses", dt.timedelta(hours=1))

    @property
    def key(self) -> str:
        return self.value[0]

    @property
    def window(self) -> dt.timedelta:
        return self.value[1]


def window_start(budget: Budget, now: dt.datetime) -> dt.datetime:
    """The start of the fixed window of `budget` that holds `now` (UTC)."""
    return _EPOCH + ((now.astimezone(dt.UTC) - _EPOCH) // budget.window) * budget.window


def seconds_left(budget: Budget, now: dt.datetime) -> int:
    """Whole seconds until the window holding `now` ends (at least 1)."""
    end = window_start(budget, now) + budget.window
    return max(1, int((end - now).total_seconds() + 0.999))


def spend(
    session: Session,
    *,
    clinic_code: str,
    budget: Budget,
    count: int,
    limit: int | None,
    now: dt.datetime,
) -> int:
    """Count `count` against the clinic's budget, in the caller's transaction; the total so
    far. Raises `TOO_MANY_LOOKUPS` (HTTP 429, Retry-After: the rest of the window) past
    `limit` (the caller's transaction then rolls the count back)."""
    insert = upsert_insert(session)
    values = insert(LookupBudget).values(
        clinic_code=clinic_code,
        budget=budget.key,
        window_start=window_start(budget, now),
        count=count,
    )
    upsert = values.on_conflict_do_update(
        index_elements=["clinic_code", "budget", "window_start"],
        set_={"count": LookupBudget.count + values.excluded.count},
    ).returning(LookupBudget.count)
    total = int(session.execute(upsert).scalar_one())
    if limit is not None and total > limit:
        raise exhausted(budget, now, f"{total} {budget.key} in this window, {limit} allowed")
    return total


def left(
    session: Session, *, clinic_code: str, budget: Budget, limit: int, now: dt.datetime
) -> int:
    """What remains of the clinic's budget in this window (0 when spent)."""
    spent = session.scalar(
        select(LookupBudget.count).where(
            LookupBudget.clinic_code == clinic_code,
            LookupBudget.budget == budget.key,
            LookupBudget.window_start == window_start(budget, now),
        )
    )
    return max(0, limit - (spent or 0))


def exhausted(budget: Budget, now: dt.datetime, detail: str) -> QualificationError:
    """The refusal for a spent budget, with the seconds until its window ends."""
    return QualificationError(
        Code.TOO_MANY_LOOKUPS, detail, retry_after_s=seconds_left(budget, now)
    )
