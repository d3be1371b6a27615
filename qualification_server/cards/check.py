"""A card check: challenge, certificate, proof of presence (PIN, or a face or visual check at
a registered reader), registration, eligibility (with the clinic's 照会番号 for the person, if
it registered one); answered or refused, it is recorded. A card check alone takes a
certificate in its expiry grace (`trust/grace.py`): qualification information only.

Lockouts (`lockouts.py`, `passcodes.py`): a face check of a card whose face matching failed
10 times in a row is refused (Q2008); a visual check must carry a 目視確認用パスコード issued
to the clinic, which it uses up. An answered PIN or face check forgets the card's failures;
a visual one does not."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread

from qualification_server.access_log import log as access_log
from qualification_server.access_log.receipts import Receipted
from qualification_server.answers.eligibility import (
    AnswerContext,
    answer_summary,
    card_answer,
    confirmation_date,
)
from qualification_server.answers.reference_numbers import with_reference_number
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.attempts import open_challenge_for, record_refusal
from qualification_server.cards.challenges import Challenge, Purpose
from qualification_server.cards.check_record import Recorded
from qualification_server.cards.lockouts import card_key, face_failures
from qualification_server.cards.passcodes import spend_passcode
from qualification_server.cards.proofs import (
    Method,
    decode_b64,
    verify_card_signature,
    verify_device_signature,
)
from qualification_server.clinics.service import ClinicIdentity, device_key
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT
from qualification_server.contract.schemas import (
    CardCheckRequest,
    EligibilityAnswer,
    PinProof,
)
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.trust.certificates import certificate_summary, person_of, validate
from qualification_server.trust.grace import CredentialKind

if TYPE_CHECKING:
    import datetime as dt

    from qualification_server.trust.validation import ValidatedCertificate


# The answer's CredentialClassification for each kind (docs/answer.md).
CREDENTIAL_CLASSIFICATION: dict[CredentialKind, Literal["1", "2"]] = {
    CredentialKind.PHYSICAL_CARD: "1",
    CredentialKind.SMARTPHONE: "2",
}


async def card_check(
    deps: Dependencies, *, clinic: ClinicIdentity, request: CardCheckRequest
) -> Receipted[EligibilityAnswer]:
    """Check a card: challenge, certificate, proof of presence, registration, eligibility;
    answered with the log's receipt for its record (`access_log.receipts`).

    Async, because it is the hot path: the registry lookup and the recording are one
    statement each on async connections; the CPU work between them (a certificate path, two
    signatures, the answer) is a fraction of a millisecond. What is not on the hot path (a
    face reader's key, recording a refusal) runs in a worker thread."""
    now = deps.clock()
    method = Method(request.proof.method)
    cert: ValidatedCertificate | None = None
    der: bytes | None = None
    summary: dict[str, Any] = {"reference": "card", "method": method.value}
    person_ref: str | None = None
    # Opened, and not yet spent by the record below: a refusal from here on spends it.
    unspent: Challenge | None = None
    try:
        token = decode_b64(request.challenge, "challenge")
        der = decode_b64(request.certificate, "certificate")
        signature = decode_b64(request.proof.signature, "signature")
        confirmation = confirmation_date(request.qualification_confirmation_date, now)
        challenge = unspent = open_challenge_for(deps, token, Purpose.CHECK, clinic.code, now)
        summary["challenge_id"] = challenge.challenge_id
        cert = validate(deps, der, now, grace=True)
        card = card_key(der)
        if isinstance(request.proof, PinProof):
            verify_card_signature(cert.public_key, token, signature)
        else:
            proof = request.proof
            summary["device_id"] = proof.device_id
            if method is Method.FACE and proof.passcode is not None:
                raise QualificationError(Code.INVALID_REQUEST, "a passcode is for visual checks")
            key, failures = await anyio.to_thread.run_sync(
                _device_key, deps, clinic, proof.device_id, card
            )
            verify_device_signature(key, token, der, method, signature)
            if method is Method.FACE and failures >= FACE_FAILURE_LIMIT:
                raise QualificationError(
                    Code.FACE_LOCKED, f"{FACE_FAILURE_LIMIT} failed face matches"
                )
            if method is Method.VISUAL:
                await anyio.to_thread.run_sync(
                    partial(
                        _spend_passcode,
                        deps,
                        clinic=clinic,
                        passcode=proof.passcode,
                        challenge_id=challenge.challenge_id,
                        now=now,
                    )
                )
        person_ref = person_of(deps, cert)
        summary["certificate"] = certificate_summary(cert, der)
        context = AnswerContext(
            clinic_code=clinic.code,
            now=now,
            confirmation_date=confirmation,
            reference_classification="1",
            arbitrary_file_identifier=request.arbitrary_file_identifier,
            credential_classification=CREDENTIAL_CLASSIFICATION[cert.kind],
        )
        person = await deps.source.aqualifications_of(person_ref)
        answer = card_answer(person, request.consents, context, in_grace=cert.in_grace)
        unspent = None  # the record spends it, whatever it finds
        outcome = await deps.checks.record(
            challenge_id=challenge.challenge_id,
            expires_at=challenge.expires_at,
            entry=access_log.Entry(
                now=now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=method.value,
                request={**summary, "consents": request.consents.model_dump()},
                answer=answer_summary(answer, person.qualifications),
            ),
            face_card=None if method is Method.VISUAL else card,
        )
        if outcome.recorded is Recorded.REPLAYED:
            raise QualificationError(Code.CHALLENGE_REPLAYED)
        if outcome.recorded is Recorded.EXPIRED:
            raise QualificationError(Code.CHALLENGE_EXPIRED, "expired by the database's clock")
        if outcome.recorded is Recorded.NOT_REGISTERED:
            raise QualificationError(Code.CARD_NOT_REGISTERED)
        assert outcome.record is not None  # answered: the record was appended
        return deps.receipts.receipted(
            with_reference_number(answer, outcome.reference_number), [outcome.record]
        )
    except QualificationError as error:
        summary.setdefault("certificate", certificate_summary(cert, der))
        await anyio.to_thread.run_sync(
            partial(
                record_refusal,
                deps,
                now=now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=method.value,
                request=summary,
                error=error,
                challenge=unspent,
            )
        )
        raise


def _device_key(
    deps: Dependencies, clinic: ClinicIdentity, device_id: str, card: str
) -> tuple[bytes, int]:
    """The device's key, and the card's failed face matches (read in the same trip)."""
    with deps.sessions() as session:
        key = device_key(session=session, clinic=clinic, device_id=device_id)
        return key, face_failures(session, card)


def _spend_passcode(
    deps: Dependencies,
    *,
    clinic: ClinicIdentity,
    passcode: str | None,
    challenge_id: str,
    now: dt.datetime,
) -> None:
    with transaction(deps.sessions) as session:
        spend_passcode(
            session,
            key=deps.settings.challenge_key_bytes,
            clinic_code=clinic.code,
            passcode=passcode,
            challenge_id=challenge_id,
            now=now,
        )
