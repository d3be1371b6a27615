"""The person's view (マイナポータル): who looked at their data, authenticated with the card."""

from __future__ import annotations

import json

from sqlalchemy import select

from qualification_server.access_log import log as access_log
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.attempts import consume_challenge
from qualification_server.cards.challenges import Purpose
from qualification_server.contract.schemas import AccessEntry, AccessHistory, CardProof
from qualification_server.db import transaction
from qualification_server.models import Clinic
from qualification_server.registrations.service import prove_with_pin
from qualification_server.trust.certificates import certificate_summary


def access_history(deps: Dependencies, *, proof: CardProof) -> AccessHistory:
    """Every lookup of the card holder's data, newest first. The viewing is recorded too."""
    now = deps.clock()
    challenge, cert, person_ref = prove_with_pin(deps, proof, Purpose.PORTAL, None)
    with transaction(deps.sessions) as session:
        consume_challenge(session, challenge)
        records = access_log.records_about(session, person_ref)
        names = {code: name for code, name in session.execute(select(Clinic.code, Clinic.name))}
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
                )
            )
        asked = {"reference": "access-history", "certificate": certificate_summary(cert, None)}
        access_log.append(
            session,
            access_log.Entry(
                now=now, clinic_code=None, person_ref=person_ref, method="portal",
                request=asked, answer={"entries": len(entries)},
            ),
        )  # fmt: skip
    return AccessHistory(entries=entries)
