"""The database side of a card check, in one atomic step: use up the challenge, confirm the
person is registered (初回登録), append the access record, read the clinic's 照会番号 for
the person (the answer carries it), and, for a PIN or face check that is answered, forget
the card's failed face matches (`lockouts.py`).

This is the hot path of the whole system, so it is one statement and one round trip on
PostgreSQL: a data-modifying CTE, prepared, run in autocommit on an async connection (no
BEGIN, no COMMIT, no thread), which inserts the used challenge (ON CONFLICT DO NOTHING: of
two concurrent replays one wins), reads the registration and appends the record only when
both hold; its final SELECT reads the reference number by its primary key and returns the
new record's id (which the answer's receipt names). SQLite (the
embedded default) takes the same steps in one transaction, in a worker thread.

The challenge is used up even when the person is not registered: a challenge answers one
attempt, whatever its outcome. A refusal's own record is written by the caller.

Whether the challenge is still alive is decided here again by the database's clock: an
instance whose clock runs slow must not take a challenge that every other instance (and the
pruning of used challenges, which goes by the same clock) holds expired.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from sqlalchemy import delete, insert, literal, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onshi_kernel.db import AsyncPostgres
from qualification_server.access_log.log import Entry, NewRecord
from qualification_server.db import database_now
from qualification_server.models import (
    AccessRecord,
    Base,
    ClinicReferenceNumber,
    FaceFailures,
    Registration,
    UsedChallenge,
)

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy import Engine

_USED = Base.metadata.tables[UsedChallenge.__tablename__]
_REGISTRATIONS = Base.metadata.tables[Registration.__tablename__]
_RECORDS = Base.metadata.tables[AccessRecord.__tablename__]
_NUMBERS = Base.metadata.tables[ClinicReferenceNumber.__tablename__]
_FACE_FAILURES = Base.metadata.tables[FaceFailures.__tablename__]

# psycopg's parameter style; run as a prepared statement on an async connection.
_POSTGRESQL = """
    WITH alive AS (
        SELECT %(expires_at)s::timestamptz > now() AS alive
    ), used AS (
        INSERT INTO used_challenges (challenge_id, expires_at)
        SELECT %(challenge_id)s, %(expires_at)s FROM alive WHERE alive
        ON CONFLICT (challenge_id, expires_at) DO NOTHING
        RETURNING 1
    ), registered AS (
        SELECT 1 FROM registrations WHERE person_ref = %(person_ref)s
    ), recorded AS (
        INSERT INTO access_records (recorded_at, clinic_code, person_ref, method, request, answer)
        SELECT %(recorded_at)s, %(clinic_code)s, %(person_ref)s, %(method)s, %(request)s,
            %(answer)s
        WHERE EXISTS (SELECT 1 FROM used) AND EXISTS (SELECT 1 FROM registered)
        RETURNING id
    ), unlocked AS (
        DELETE FROM face_failures
        WHERE certificate_sha256 = %(face_card)s AND EXISTS (SELECT 1 FROM recorded)
    )
    SELECT EXISTS (SELECT 1 FROM used), EXISTS (SELECT 1 FROM registered),
        (SELECT alive FROM alive),
        (SELECT reference_number FROM reference_numbers
            WHERE clinic_code = %(clinic_code)s AND person_ref = %(person_ref)s),
        (SELECT id FROM recorded)
"""


class Recorded(enum.Enum):
    """What became of a card check in the database."""

    ANSWERED = "answered"  # challenge used up, person registered, record appended
    REPLAYED = "replayed"  # the challenge had been used: nothing written
    EXPIRED = "expired"  # expired by the database's clock: nothing written
    NOT_REGISTERED = "not registered"  # challenge used up, nothing recorded


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What became of a card check, the record appended (when answered: the receipt covers
    it) and the clinic's 照会番号 for the person (when it registered one)."""

    recorded: Recorded
    reference_number: str | None = None
    record: NewRecord | None = None


class CheckRecorder:
    """Records card checks in the server's database (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"the server runs on PostgreSQL or SQLite, not {engine.dialect.name}")
        self._engine = engine
        # One statement needs no transaction of its own: autocommit saves two round trips.
        self._postgresql = (
            AsyncPostgres(engine.url) if engine.dialect.name == "postgresql" else None
        )

    async def record(
        self,
        *,
        challenge_id: str,
        expires_at: dt.datetime,
        entry: Entry,
        face_card: str | None = None,
    ) -> CheckOutcome:
        """Use up the challenge and, if the entry's person is registered, append the entry
        and read the entry's clinic's reference number for them; then, with `face_card`
        (the certificate's SHA-256), forget that card's failed face matches."""
        person_ref = entry.person_ref
        if person_ref is None:
            raise ValueError("a card check's record names its person")
        record = entry.columns()
        if self._postgresql is not None:
            async with self._postgresql.connection() as connection:
                cursor = await connection.execute(
                    _POSTGRESQL,
                    {
                        "challenge_id": challenge_id,
                        "expires_at": expires_at,
                        "face_card": face_card,
                        **record,
                    },
                    prepare=True,
                )
                row = await cursor.fetchone()
                fresh, registered, alive, number, record_id = row or (
                    False, False, True, None, None
                )  # fmt: skip
        else:
            fresh, registered, alive, number, record_id = await anyio.to_thread.run_sync(
                self._in_steps, challenge_id, expires_at, person_ref, record, face_card
            )
        if not alive:
            return CheckOutcome(Recorded.EXPIRED)
        if not fresh:
            return CheckOutcome(Recorded.REPLAYED)
        if not registered:
            return CheckOutcome(Recorded.NOT_REGISTERED)
        if record_id is None:  # registered and fresh: the CTE appended it
            raise RuntimeError("the card check's record was not appended")
        return CheckOutcome(Recorded.ANSWERED, number, NewRecord(id=record_id, **record))

    async def open(self) -> None:
        """Open the running event loop's connection pool (the app's start-up)."""
        if self._postgresql is not None:
            await self._postgresql.open()

    async def aclose(self) -> None:
        """Close the running event loop's connection pool (the app's shutdown)."""
        if self._postgresql is not None:
            await self._postgresql.aclose()

    def _in_steps(
        self,
        challenge_id: str,
        expires_at: dt.datetime,
        person_ref: str,
        record: dict[str, Any],
        face_card: str | None,
    ) -> tuple[bool, bool, bool, str | None, int | None]:
        with self._engine.begin() as connection:
            alive = connection.execute(
                select(literal(expires_at, _USED.c.expires_at.type) > database_now("sqlite"))
            ).scalar_one()
            if not alive:
                return False, False, False, None, None
            used = connection.execute(
                sqlite_insert(_USED)
                .values(challenge_id=challenge_id, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["challenge_id", "expires_at"])
                .returning(_USED.c.challenge_id)
            ).first()
            if used is None:
                return False, False, True, None, None
            registered = (
                connection.execute(
                    select(_REGISTRATIONS.c.person_ref).where(
                        _REGISTRATIONS.c.person_ref == person_ref
                    )
                ).first()
                is not None
            )
            if not registered:
                return True, False, True, None, None
            record_id = connection.execute(
                insert(_RECORDS).returning(_RECORDS.c.id), record
            ).scalar_one()
            if face_card is not None:
                connection.execute(
                    delete(_FACE_FAILURES).where(_FACE_FAILURES.c.certificate_sha256 == face_card)
                )
            number = connection.execute(
                select(_NUMBERS.c.reference_number).where(
                    _NUMBERS.c.clinic_code == record["clinic_code"],
                    _NUMBERS.c.person_ref == person_ref,
                )
            ).scalar_one_or_none()
            return True, True, True, number, record_id
