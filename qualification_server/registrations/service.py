"""初回登録 — the portal link flow (docs/domain.md, registration) — and its undoing.

The person proves possession of the card with the PIN (signature over a registration
challenge), consents; the server resolves the person through the issuer directory, asks the
insurer registry for their current qualification, and records the registration under the
person reference. A renewed certificate maps to the same person, so it keeps working; a
revoked one fails certificate validation, so its use stops at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from onshi_kernel.japan_time import japan_date
from qualification_server.access_log import log as access_log
from qualification_server.answers.eligibility import held_detail
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.attempts import (
    consume_challenge,
    open_challenge_for,
    record_refusal,
    spend_on_refusal,
)
from qualification_server.cards.challenges import Challenge, Purpose
from qualification_server.cards.proofs import decode_b64, verify_card_signature
from qualification_server.contract.schemas import CardProof, RegistrationResult
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.models import Registration
from qualification_server.trust.certificates import certificate_summary, person_of, validate
from qualification_server.trust.validation import ValidatedCertificate

PORTAL = "portal"


def open_proof_challenge(
    deps: Dependencies, proof: CardProof, purpose: Purpose, client: str | None, now: dt.datetime
) -> Challenge:
    """The proof's challenge, checked for `purpose` and `client` (not yet spent)."""
    return open_challenge_for(deps, decode_b64(proof.challenge, "challenge"), purpose, client, now)


def prove_card(
    deps: Dependencies, proof: CardProof, challenge: Challenge, now: dt.datetime
) -> tuple[ValidatedCertificate, str]:
    """Check a PIN-mode proof over an opened challenge: (certificate, person_ref)."""
    der = decode_b64(proof.certificate, "certificate")
    signature = decode_b64(proof.signature, "signature")
    cert = validate(deps, der, now)
    verify_card_signature(cert.public_key, challenge.token, signature)
    return cert, person_of(deps, cert)


def prove_with_pin(
    deps: Dependencies, proof: CardProof, purpose: Purpose, client: str | None
) -> tuple[Challenge, ValidatedCertificate, str]:
    """Check a PIN-mode proof for `purpose`: (challenge, certificate, person_ref). A proof
    that fails once its challenge has opened spends the challenge."""
    now = deps.clock()
    challenge = open_proof_challenge(deps, proof, purpose, client, now)
    try:
        cert, person_ref = prove_card(deps, proof, challenge, now)
    except QualificationError:
        spend_on_refusal(deps, challenge)
        raise
    return challenge, cert, person_ref


def register(
    deps: Dependencies, *, proof: CardProof, consent: bool, clinic_code: str | None
) -> RegistrationResult:
    """Register the card holder for use as a health insurance card (at the portal when
    `clinic_code` is None, else at that clinic's reader)."""
    now = deps.clock()
    via = clinic_code or PORTAL
    request: dict[str, Any] = {"reference": "registration", "via": via}
    person_ref: str | None = None
    challenge: Challenge | None = None
    try:
        challenge = open_proof_challenge(deps, proof, Purpose.REGISTRATION, clinic_code, now)
        if not consent:
            raise QualificationError(Code.CONSENT_REQUIRED)
        cert, person_ref = prove_card(deps, proof, challenge, now)
        request["certificate"] = certificate_summary(cert, None)
        person = deps.source.qualifications_of(person_ref)
        current = person.current(japan_date(now))
        if not current:
            if person.held:
                raise QualificationError(Code.QUALIFICATION_HELD, held_detail(person.held))
            raise QualificationError(Code.NO_QUALIFICATION)
        with transaction(deps.sessions) as session:
            consume_challenge(session, challenge)
            existing = session.get(Registration, person_ref)
            if existing is None:
                session.add(
                    Registration(
                        person_ref=person_ref,
                        registered_at=now,
                        registered_via=via,
                        certificate_issuer=cert.issuer_string,
                        certificate_serial=str(cert.serial),
                    )
                )
            access_log.append(
                session,
                access_log.Entry(
                    now=now,
                    clinic_code=clinic_code,
                    person_ref=person_ref,
                    method="registration",
                    request=request,
                    answer={"registered": True, "already": existing is not None},
                ),
            )
        return RegistrationResult(
            registered=True,
            already_registered=existing is not None,
            insurers=[q.insurer_name for q in current],
        )
    except QualificationError as error:
        record_refusal(
            deps, now=now, clinic_code=clinic_code, person_ref=person_ref,
            method="registration", request=request, error=error, challenge=challenge,
        )  # fmt: skip
        raise


def unregister(deps: Dependencies, *, proof: CardProof) -> bool:
    """Undo the registration (at the portal, with the card and PIN). True if there was one."""
    now = deps.clock()
    challenge, cert, person_ref = prove_with_pin(deps, proof, Purpose.PORTAL, None)
    with transaction(deps.sessions) as session:
        consume_challenge(session, challenge)
        existing = session.get(Registration, person_ref)
        if existing is not None:
            session.delete(existing)
        access_log.append(
            session,
            access_log.Entry(
                now=now,
                clinic_code=None,
                person_ref=person_ref,
                method="unregistration",
                request={
                    "reference": "unregistration",
                    "certificate": certificate_summary(cert, None),
                },
                answer={"unregistered": existing is not None},
            ),
        )
    return existing is not None
