"""An attempt with a challenge: the challenge opened for its purpose and client, used up
once whatever the outcome (by the database's clock), and a refusal recorded with it."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal, select

from qualification_server.access_log import log as access_log
from qualification_server.cards.challenges import Challenge, Purpose, check_challenge
from qualification_server.db import database_now, transaction, upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import UsedChallenge

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qualification_server.api.dependencies import Dependencies


def open_challenge_for(
    deps: Dependencies, token: bytes, purpose: Purpose, client: str | None, now: dt.datetime
) -> Challenge:
    return check_challenge(
        token, key=deps.settings.challenge_key_bytes, purpose=purpose, client=client, now=now
    )


def spend_challenge(session: Session, challenge: Challenge) -> bool:
    """Mark the challenge used, in the caller's transaction; False if it already was, or if
    it has expired by the database's clock (the one every instance shares).

    One INSERT … SELECT … ON CONFLICT DO NOTHING: the unique key makes concurrent replays
    lose. The key is (id, expiry), which on PostgreSQL's partitions is unique where the id
    alone cannot be declared so; the expiry is inside the challenge's MAC, so a replay
    always brings the same pair (docs/partitions.md).
    """
    insert = upsert_insert(session)
    expires_at = literal(challenge.expires_at, UsedChallenge.__table__.c.expires_at.type)
    alive = select(literal(challenge.challenge_id), expires_at).where(
        expires_at > database_now(session.get_bind().dialect.name)
    )
    statement = (
        insert(UsedChallenge)
        .from_select(["challenge_id", "expires_at"], alive)
        .on_conflict_do_nothing(index_elements=["challenge_id", "expires_at"])
        .returning(UsedChallenge.challenge_id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def consume_challenge(session: Session, challenge: Challenge) -> None:
    """Mark the challenge used, in the caller's transaction. Raises `CHALLENGE_REPLAYED`, or
    `CHALLENGE_EXPIRED` when the database's clock says it has expired."""
    if not spend_challenge(session, challenge):
        if session.get(UsedChallenge, (challenge.challenge_id, challenge.expires_at)) is None:
            raise QualificationError(Code.CHALLENGE_EXPIRED, "expired by the database's clock")
        raise QualificationError(Code.CHALLENGE_REPLAYED)


def spend_on_refusal(deps: Dependencies, challenge: Challenge) -> None:
    """A challenge answers one attempt, whatever its outcome: a refused one spends it too."""
    with transaction(deps.sessions) as session:
        spend_challenge(session, challenge)


def record_refusal(
    deps: Dependencies,
    *,
    now: dt.datetime,
    clinic_code: str | None,
    person_ref: str | None,
    method: str,
    request: dict[str, Any],
    error: QualificationError,
    challenge: Challenge | None = None,
) -> None:
    """Record a refused request in the access log (in its own transaction), spending the
    attempt's challenge with it when one was presented and opened: a refusal uses it up."""
    with transaction(deps.sessions) as session:
        if challenge is not None:
            spend_challenge(session, challenge)
        access_log.append(
            session,
            access_log.Entry(
                now=now,
                clinic_code=clinic_code,
                person_ref=person_ref,
                method=method,
                request=request,
                answer={"error": error.code.value},
            ),
        )
