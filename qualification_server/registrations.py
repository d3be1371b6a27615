"""初回登録 — the portal link flow (SPEC §1 steps ①–⑦) — and its undoing.

The person proves possession of the card with the PIN (signature over a registration
challenge), consents; the server resolves the person through the issuer directory, asks the
insurer registry for their current qualification, and records the registration under the
person reference. A renewed certificate maps to the same person, so it keeps working; a
revoked one fails certificate validation, so its use stops at once.
"""

from __future__ import annotations

from typing import Any

from qualification_server import access_log
from qualification_server.answers import japan_date
from qualification_server.challenges import Challenge, Purpose
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.models import Registration
from qualification_server.proofs import verify_card_signature
from qualification_server.schemas import CardProof, RegistrationResult
from qualification_server.service import (
    Dependencies,
    certificate_summary,
    consume_challenge,
    decode_b64,
    open_challenge_for,
    person_of,
    record_refusal,
    validate,
)
from qualification_server.trust.validation import ValidatedCertificate

PORTAL = "portal"


def prove_with_pin(
    deps: Dependencies, proof: CardProof, purpose: Purpose, client: str | None
) -> tuple[Challenge, ValidatedCertificate, str]:
    """Check a PIN-mode proof for `purpose`: (challenge, certificate, person_ref)."""
    now = deps.clock()
    token = decode_b64(proof.challenge, "challenge")
    der = decode_b64(proof.certificate, "certificate")
    signature = decode_b64(proof.signature, "signature")
    challenge = open_challenge_for(deps, token, purpose, client, now)
    cert = validate(deps, der, now)
    verify_card_signature(cert.public_key, token, signature)
    return challenge, cert, person_of(deps, cert)


def register(
    deps: Dependencies, *, proof: CardProof, consent: bool, clinic_code: str | None
) -> RegistrationResult:
    """Register the card holder for use as a health insurance card (at the portal when
    `clinic_code` is None, else at that clinic's reader)."""
    now = deps.clock()
    via = clinic_code or PORTAL
    request: dict[str, Any] = {"reference": "registration", "via": via}
    person_ref: str | None = None
    try:
        if not consent:
            raise QualificationError(Code.CONSENT_REQUIRED)
        challenge, cert, person_ref = prove_with_pin(deps, proof, Purpose.REGISTRATION, clinic_code)
        request["certificate"] = certificate_summary(cert, None)
        person = deps.source.qualifications_of(person_ref)
        current = person.current(japan_date(now))
        if not current:
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
                        certificate_issuer=cert.issuer.rfc4514_string(),
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
            method="registration", request=request, error=error,
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
