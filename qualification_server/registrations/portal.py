"""The person's view (マイナポータル): who looked at their data, authenticated with the card."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from insurer_registry.lookup.types import LinkageEntry
from onshi_kernel.japan_time import japan_date
from qualification_server.access_log import log as access_log
from qualification_server.access_log.receipts import (
    audit_paths,
    latest_witnessed_head,
    record_proof,
)
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.attempts import consume_challenge
from qualification_server.cards.challenges import Purpose
from qualification_server.contract.schemas import (
    AccessEntry,
    AccessHistory,
    CardProof,
    PortalInsurer,
    PortalLinkage,
    PortalRegistration,
)
from qualification_server.db import transaction
from qualification_server.errors import QualificationError
from qualification_server.models import Clinic, Registration
from qualification_server.registrations.service import PORTAL, prove_with_pin
from qualification_server.trust.certificates import certificate_summary
from qualification_server.trust.grace import CredentialKind

CREDENTIALS = {
    CredentialKind.PHYSICAL_CARD.value: "card",
    CredentialKind.SMARTPHONE.value: "smartphone",
}


def access_history(deps: Dependencies, *, proof: CardProof) -> AccessHistory:
    """Every lookup of the card holder's data, newest first. The viewing is recorded too."""
    now = deps.clock()
    challenge, cert, person_ref = prove_with_pin(deps, proof, Purpose.PORTAL, None)
    with transaction(deps.sessions) as session:
        consume_challenge(session, challenge)
        records = access_log.records_about(session, person_ref)
        names = {code: name for code, name in session.execute(select(Clinic.code, Clinic.name))}
        witnessed, witnessed_size = latest_witnessed_head(session)
        paths = audit_paths(session, records, witnessed_size)
        entries = []
        for record in records:
            request, answer = json.loads(record.request), json.loads(record.answer)
            outcome = answer.get("error") or (
                f"validity {answer['validity']}" if "validity" in answer else "ok"
            )
            entries.append(
                AccessEntry(
                    recorded_at=record.recorded_at,
                    clinic_code=record.clinic_code,
                    clinic_name=names.get(record.clinic_code) if record.clinic_code else None,
                    method=record.method,
                    reference=request.get("reference"),
                    outcome=outcome,
                    **_in_words(request, answer),
                    **record_proof(session, record, witnessed_size, paths),
                )
            )
        registration = _registration(deps, session, person_ref, names)
        linkages = [_linkage(entry) for entry in deps.source.linkage_history(person_ref)]
        asked = {"reference": "access-history", "certificate": certificate_summary(cert, None)}
        access_log.append(
            session,
            access_log.Entry(
                now=now, clinic_code=None, person_ref=person_ref, method="portal",
                request=asked, answer={"entries": len(entries), "linkages": len(linkages)},
            ),
        )  # fmt: skip
    return AccessHistory(
        entries=entries, registration=registration, Linkages=linkages, checkpoint=witnessed
    )


def _linkage(entry: LinkageEntry) -> PortalLinkage:
    """One linkage event as the person is shown it."""
    last4 = entry.my_number_last4
    return PortalLinkage.model_validate(
        {
            "At": entry.at,
            "InsurerNumber": entry.insurer_number.digits,
            "InsurerName": entry.insurer_name,
            "Event": entry.event,
            "State": entry.state,
            "PersonKnownToIssuer": entry.person_known,
            "Outcomes": dict(entry.outcomes),
            "MyNumberLast4": last4,
        }
    )


def _in_words(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """What the record says was answered, as fields the portal can put in words."""
    kind = (request.get("certificate") or {}).get("credential")  # CredentialKind's value
    words: dict[str, Any] = {"credential": CREDENTIALS.get(kind) if kind else None}
    if "error" in answer:
        return {**words, "result": "refused", "error_code": str(answer["error"])}
    if "validity" in answer:
        return {**words, "result": "answered", "validity": str(answer["validity"])}
    return {**words, "result": "done"}


def _registration(
    deps: Dependencies, session: Session, person_ref: str, names: dict[str, str]
) -> PortalRegistration | None:
    """The person's registration and the insurers they are qualified with today (asked of
    the registry through its lookup port), or None when they are not registered."""
    registration = session.get(Registration, person_ref)
    if registration is None:
        return None
    try:
        current = deps.source.qualifications_of(person_ref).current(japan_date(deps.clock()))
    except QualificationError:
        current = ()  # registered, but no qualification today: shown as such
    via_clinic = registration.registered_via != PORTAL
    return PortalRegistration(
        registered_at=registration.registered_at,
        registered_via="clinic" if via_clinic else "portal",
        clinic_code=registration.registered_via if via_clinic else None,
        clinic_name=names.get(registration.registered_via) if via_clinic else None,
        insurers=[
            PortalInsurer(insurer_number=q.insurer_number.digits, insurer_name=q.insurer_name)
            for q in current
        ],
    )
