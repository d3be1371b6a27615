"""The change log: who changed which fields of which qualification, and when.

Entries are only ever added. They name fields by their element name, never copy values, and
name the person's change as `MyNumber` without the number itself.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from insurer_registry.models import ChangeLogEntry, Import, Qualification, utc_now


class Action(enum.StrEnum):
    """What a change did."""

    REGISTER = "register"
    CORRECT = "correct"
    RECORD_LOSS = "record_loss"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change: a label fit for the log (a credential id or `operator`), the
    insurer it acts for when there is one, and the client's request id."""

    label: str
    insurer_id: int | None = None
    request_id: str | None = None

    @classmethod
    def operator(cls, what: str = "cli") -> Actor:
        """The registry's operator, acting from the command line."""
        return cls(label=f"operator:{what}")


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a qualification's change history."""

    at: datetime
    actor: str
    action: Action
    version: int
    fields: tuple[str, ...]
    request_id: str | None
    import_id: int | None


def record_change(
    *,
    session: Session,
    actor: Actor,
    action: Action,
    qualification_id: int,
    version: int,
    fields: Sequence[str],
    import_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry to the change log (in the caller's transaction)."""
    session.add(
        ChangeLogEntry(
            at=at or utc_now(),
            actor=actor.label,
            insurer_id=actor.insurer_id,
            request_id=actor.request_id,
            action=action.value,
            qualification_id=qualification_id,
            version=version,
            fields=list(fields),
            import_id=import_id,
        )
    )


def changes_of(*, session: Session, qualification_id: int) -> list[Change]:
    """The change history of one qualification, oldest first.

    A qualification registered by a bulk import has no entry of its own for that: the
    `imports` row records who imported which file when, once for all its rows, and the
    qualification points to it. It is told here as the first entry.
    """
    history: list[Change] = []
    imported = session.execute(
        select(Import)
        .join(Qualification, Qualification.import_id == Import.id)
        .where(Qualification.id == qualification_id)
    ).scalar_one_or_none()
    if imported is not None:
        history.append(
            Change(
                at=imported.finished_at,
                actor=imported.actor,
                action=Action.REGISTER,
                version=1,
                fields=(),
                request_id=imported.request_id,
                import_id=imported.id,
            )
        )
    rows = session.scalars(
        select(ChangeLogEntry)
        .where(ChangeLogEntry.qualification_id == qualification_id)
        .order_by(ChangeLogEntry.id)
    )
    return history + [
        Change(
            at=row.at,
            actor=row.actor,
            action=Action(row.action),
            version=row.version,
            fields=tuple(row.fields),
            request_id=row.request_id,
            import_id=row.import_id,
        )
        for row in rows
    ]
