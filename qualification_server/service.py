"""What every flow needs: settings, sessions, trust, the issuer directory, the registry
lookup and the clock; and proving a card, which every card flow starts with."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal, select

from qualification_server import access_log
from qualification_server.challenges import Challenge, Purpose, check_challenge
from qualification_server.check_record import CheckRecorder
from qualification_server.db import database_now, transaction, upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import UsedChallenge
from qualification_server.trust.validation import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateProblem,
    CertificateRevoked,
    MalformedCertificate,
    RevocationUnavailable,
    ValidatedCertificate,
    validate_certificate,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from insurer_registry.lookup.types import QualificationSource
    from qualification_server.issuer_directory import IssuerDirectory
    from qualification_server.settings import Settings
    from qualification_server.trust.files import TrustStore

log = logging.getLogger(__name__)

_CERTIFICATE_CODES: dict[type[CertificateProblem], Code] = {
    MalformedCertificate: Code.MALFORMED_CERTIFICATE,
    CertificateExpired: Code.CERTIFICATE_EXPIRED,
    CertificateNotYetValid: Code.CERTIFICATE_NOT_YET_VALID,
    CertificateRevoked: Code.CERTIFICATE_REVOKED,
    RevocationUnavailable: Code.REVOCATION_UNAVAILABLE,
}


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    sessions: sessionmaker[Session]
    trust: TrustStore
    directory: IssuerDirectory
    source: QualificationSource
    clock: Callable[[], dt.datetime]

    @cached_property
    def checks(self) -> CheckRecorder:
        """The card checks' one-step recording, on the sessions' engine."""
        engine: Engine = self.sessions.kw["bind"]
        return CheckRecorder(engine)


def decode_b64(value: str, what: str) -> bytes:
    """Standard or URL-safe base64. Raises `QualificationError(INVALID_REQUEST)`."""
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise QualificationError(Code.INVALID_REQUEST, f"{what} is not base64") from None


def validate(deps: Dependencies, der: bytes, now: dt.datetime) -> ValidatedCertificate:
    """Validate a card certificate, mapping each problem to its numbered error."""
    try:
        return validate_certificate(der, deps.trust.anchors(), now)
    except CertificateProblem as problem:
        code = _CERTIFICATE_CODES.get(type(problem), Code.UNTRUSTED_CERTIFICATE)
        raise QualificationError(code, problem.detail) from None


def open_challenge_for(
    deps: Dependencies, token: bytes, purpose: Purpose, client: str | None, now: dt.datetime
) -> Challenge:
    return check_challenge(
        token, key=deps.settings.challenge_key_bytes, purpose=purpose, client=client, now=now
    )


def person_of(deps: Dependencies, cert: ValidatedCertificate) -> str:
    person_ref = deps.directory.person_of(cert.issuer, cert.serial)
    if person_ref is None:
        raise QualificationError(Code.PERSON_UNKNOWN, f"certificate {cert.serial}")
    return person_ref


def spend_challenge(session: Session, challenge: Challenge) -> bool:
    """Mark the challenge used, in the caller's transaction; False if it already was, or if
    it has expired by the database's clock (the one every instance shares).

    One INSERT … SELECT … ON CONFLICT DO NOTHING: the unique id makes concurrent replays lose.
    """
    insert = upsert_insert(session)
    expires_at = literal(challenge.expires_at, UsedChallenge.__table__.c.expires_at.type)
    alive = select(literal(challenge.challenge_id), expires_at).where(
        expires_at > database_now(session.get_bind().dialect.name)
    )
    statement = (
        insert(UsedChallenge)
        .from_select(["challenge_id", "expires_at"], alive)
        .on_conflict_do_nothing(index_elements=["challenge_id"])
        .returning(UsedChallenge.challenge_id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def consume_challenge(session: Session, challenge: Challenge) -> None:
    """Mark the challenge used, in the caller's transaction. Raises `CHALLENGE_REPLAYED`, or
    `CHALLENGE_EXPIRED` when the database's clock says it has expired."""
    if not spend_challenge(session, challenge):
        if session.get(UsedChallenge, challenge.challenge_id) is None:
            raise QualificationError(Code.CHALLENGE_EXPIRED, "expired by the database's clock")
        raise QualificationError(Code.CHALLENGE_REPLAYED)


def spend_on_refusal(deps: Dependencies, challenge: Challenge) -> None:
    """A challenge answers one attempt, whatever its outcome: a refused one spends it too."""
    with transaction(deps.sessions) as session:
        spend_challenge(session, challenge)


def certificate_summary(cert: ValidatedCertificate | None, der: bytes | None) -> dict[str, Any]:
    if cert is not None:
        return {"issuer": cert.issuer.rfc4514_string(), "serial": str(cert.serial)}
    return {"sha256": hashlib.sha256(der).hexdigest()} if der else {}


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
