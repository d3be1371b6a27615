"""Failed face matches, counted per card: a clinic's registered reader reports each one
(`FaceFailureReport`: the device signs the failure over a check challenge and the card's
certificate), and from the `FACE_FAILURE_LIMIT`th in a row on, face mode is refused for the
card (Q2008): face checks and further reports alike.

The card is its auth certificate's SHA-256 (never a name or My Number): a renewed
certificate starts with no failures. A report needs a challenge the server issued to the
clinic, used up by it, and the clinic's device key: a clinic cannot add failures to a card
its reader did not see, nor add two for one challenge, nor wipe a count.

Chosen [unconfirmed] (docs/domain.md): the count is of failures in a row. A face check or a
PIN check that is answered ends the row (the card's count is forgotten, in the check's own
recording, `check_record.py`): a PIN check is how the holder unlocks face mode. A visual
check resets nothing: neither this count nor, since the card keeps it, the PIN's.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from qualification_server.access_log import log as access_log
from qualification_server.cards.attempts import (
    consume_challenge,
    open_challenge_for,
    record_refusal,
)
from qualification_server.cards.challenges import Challenge, Purpose
from qualification_server.cards.proofs import decode_b64, verify_face_failure_signature
from qualification_server.clinics.service import ClinicIdentity, device_key
from qualification_server.contract.lockouts import (
    FACE_FAILURE_LIMIT,
    FaceFailureAnswer,
    FaceFailureReport,
)
from qualification_server.contract.presence import Method
from qualification_server.db import transaction, upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import FaceFailures
from qualification_server.trust.certificates import certificate_summary, person_of, validate

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from qualification_server.api.dependencies import Dependencies
    from qualification_server.trust.validation import ValidatedCertificate


def card_key(certificate_der: bytes) -> str:
    """The card as the face counter knows it: its auth certificate's SHA-256, in hex."""
    return hashlib.sha256(certificate_der).hexdigest()


def face_failures(session: Session, card: str) -> int:
    """The card's failed face matches in a row (0 when none was reported)."""
    failures = session.scalar(
        select(FaceFailures.failures).where(FaceFailures.certificate_sha256 == card)
    )
    return failures or 0


def refuse_if_locked(session: Session, card: str) -> None:
    """Raise `FACE_LOCKED` if the card's face mode is locked."""
    if face_failures(session, card) >= FACE_FAILURE_LIMIT:
        raise QualificationError(Code.FACE_LOCKED, f"{FACE_FAILURE_LIMIT} failed face matches")


def count_failure(session: Session, card: str, now: dt.datetime) -> int | None:
    """One more failure for the card, in the caller's transaction: the new count, or None
    when the card was locked already (nothing changed). One upsert: of two concurrent
    reports both count, and neither takes the count past the limit."""
    insert = upsert_insert(session)
    first = insert(FaceFailures).values(certificate_sha256=card, failures=1, last_failed_at=now)
    statement = first.on_conflict_do_update(
        index_elements=["certificate_sha256"],
        set_={"failures": FaceFailures.failures + 1, "last_failed_at": now},
        where=FaceFailures.failures < FACE_FAILURE_LIMIT,
    ).returning(FaceFailures.failures)
    counted: int | None = session.execute(statement).scalar_one_or_none()
    return counted


def report_face_failure(
    deps: Dependencies, *, clinic: ClinicIdentity, report: FaceFailureReport
) -> FaceFailureAnswer:
    """Count a failed face match reported by the clinic's reader, and record it in the
    access log (answer Q2009 with the count); a refused report is recorded with its code."""
    now = deps.clock()
    summary: dict[str, Any] = {
        "reference": "card",
        "method": Method.FACE.value,
        "face_match": "failed",
        "device_id": report.device_id,
    }
    cert: ValidatedCertificate | None = None
    der: bytes | None = None
    person_ref: str | None = None
    unspent: Challenge | None = None
    try:
        token = decode_b64(report.challenge, "challenge")
        der = decode_b64(report.certificate, "certificate")
        signature = decode_b64(report.signature, "signature")
        challenge = unspent = open_challenge_for(deps, token, Purpose.CHECK, clinic.code, now)
        summary["challenge_id"] = challenge.challenge_id
        cert = validate(deps, der, now, grace=True)
        with deps.sessions() as session:
            key = device_key(session=session, clinic=clinic, device_id=report.device_id)
        verify_face_failure_signature(key, token, der, signature)
        person_ref = person_of(deps, cert)
        summary["certificate"] = certificate_summary(cert, der)
        with transaction(deps.sessions) as session:
            consume_challenge(session, challenge)
            failures = count_failure(session, card_key(der), now)
            if failures is None:
                raise QualificationError(Code.FACE_LOCKED, "a report for a locked card")
            access_log.append(
                session,
                access_log.Entry(
                    now=now,
                    clinic_code=clinic.code,
                    person_ref=person_ref,
                    method=Method.FACE.value,
                    request=summary,
                    answer={"error": Code.FACE_NOT_MATCHED.value, "face_failures": failures},
                ),
            )
        return FaceFailureAnswer(
            code="Q2009",
            failures=failures,
            remaining=FACE_FAILURE_LIMIT - failures,
            locked=failures >= FACE_FAILURE_LIMIT,
        )
    except QualificationError as error:
        summary.setdefault("certificate", certificate_summary(cert, der))
        record_refusal(
            deps,
            now=now,
            clinic_code=clinic.code,
            person_ref=person_ref,
            method=Method.FACE.value,
            request=summary,
            error=error,
            challenge=unspent,
        )
        raise
