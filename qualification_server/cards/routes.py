"""The card's routes: challenges (for a clinic's reader and for the portal), the card check,
answered as the wire's eligibility answer or as FHIR, and the lockouts' two: a reader's
report of a failed face match, and the 目視確認用パスコード a visual check needs."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, FastAPI

from qualification_server.answers.fhir import FHIR_JSON, coverage_eligibility_response
from qualification_server.api.clinic_route import ClinicJSONRoute
from qualification_server.api.dependencies import ClinicDep, Dependencies, DepsDep
from qualification_server.api.responses import ERRORS, SpecJSONResponse
from qualification_server.cards import check as checks
from qualification_server.cards import lockouts, passcodes
from qualification_server.cards.challenges import Purpose, issue_challenge
from qualification_server.cards.fhir_route import FHIRJSONResponse, FHIRRoute
from qualification_server.contract.lockouts import (
    FaceFailureAnswer,
    FaceFailureReport,
    VisualPasscodeAnswer,
    VisualPasscodeRequest,
)
from qualification_server.contract.schemas import (
    CardCheckRequest,
    ChallengeRequest,
    ChallengeResponse,
    EligibilityAnswer,
    PortalChallengeRequest,
)

router = APIRouter()


def _challenge(deps: Dependencies, purpose: Purpose, client: str | None) -> ChallengeResponse:
    issued = issue_challenge(
        key=deps.settings.challenge_key_bytes,
        purpose=purpose,
        client=client,
        now=deps.clock(),
        ttl_s=deps.settings.challenge_ttl_s,
    )
    return ChallengeResponse(
        challenge=base64.b64encode(issued.token).decode(),
        challenge_id=issued.challenge_id,
        expires_at=issued.expires_at,
    )


@router.post("/v1/challenges", responses=ERRORS, tags=["clinic"])
def clinic_challenge(deps: DepsDep, who: ClinicDep, body: ChallengeRequest) -> ChallengeResponse:
    """A one-time challenge for a card check or a registration at this clinic's reader."""
    purpose = Purpose.CHECK if body.purpose == "check" else Purpose.REGISTRATION
    return _challenge(deps, purpose, who.code)


@router.post("/portal/v1/challenges", responses=ERRORS, tags=["portal"])
def portal_challenge(deps: DepsDep, body: PortalChallengeRequest) -> ChallengeResponse:
    """A one-time challenge for the portal (registration or viewing the access log)."""
    purpose = Purpose.PORTAL if body.purpose == "portal" else Purpose.REGISTRATION
    return _challenge(deps, purpose, None)


# The card checks, the hot path: handled without FastAPI's per-request dependency solving
# (api/clinic_route.py), and put on the app's own router ahead of every other route
# (`add_card_checks`). The API document is FastAPI's all the same.


async def card(deps: DepsDep, who: ClinicDep, body: CardCheckRequest) -> SpecJSONResponse:
    """Eligibility of the card holder (PIN, face or visual proof of presence)."""
    checked = await checks.card_check(deps, clinic=who, request=body)
    return SpecJSONResponse(checked.answer, headers=checked.headers)


class FHIRCardRoute(FHIRRoute, ClinicJSONRoute):
    """The FHIR card check: FHIR's answers and refusals around the hot path's handler."""


# The FHIR card check: answered as application/fhir+json, refusals as OperationOutcome with
# the same status (fhir_route.FHIRRoute).
FHIR_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": "a refusal, as an OperationOutcome", "content": {FHIR_JSON: {}}}
    for status in ERRORS
}


async def card_fhir(deps: DepsDep, who: ClinicDep, body: CardCheckRequest) -> FHIRJSONResponse:
    """The same card check, answered as a FHIR R4B CoverageEligibilityResponse; a refusal
    as an OperationOutcome with the same status and code (docs/answer.md)."""
    checked = await checks.card_check(deps, clinic=who, request=body)
    return FHIRJSONResponse(coverage_eligibility_response(checked.answer), headers=checked.headers)


def add_card_checks(app: FastAPI) -> None:
    """The two card checks as routes of the app's own router, to be added before any other:
    the first routes it tries. Matched through two included routers (FastAPI 0.165 matches
    each level twice, once to choose and once to handle), a card check's path cost 50-58 µs
    of CPU before its handler ran; as the app's first routes, 9."""
    app.router.add_api_route(
        "/v1/eligibility/card",
        card,
        methods=["POST"],
        responses=ERRORS,
        tags=["clinic"],
        response_model=EligibilityAnswer,
        route_class_override=ClinicJSONRoute,
    )
    app.router.add_api_route(
        "/fhir/v1/eligibility/card",
        card_fhir,
        methods=["POST"],
        responses=FHIR_ERRORS,
        tags=["clinic"],
        response_class=FHIRJSONResponse,
        route_class_override=FHIRCardRoute,
    )


@router.post("/v1/face-failures", responses=ERRORS, tags=["clinic"])
def face_failure(deps: DepsDep, who: ClinicDep, body: FaceFailureReport) -> FaceFailureAnswer:
    """A face match that failed at this clinic's registered reader, counted for the card
    (answered Q2009 with the count). From the 10th failure in a row, the card's face checks
    and reports are refused (Q2008) until a PIN check is answered."""
    return lockouts.report_face_failure(deps, clinic=who, report=body)


@router.post(
    "/v1/visual-passcodes",
    responses=ERRORS,
    tags=["clinic"],
    response_model=VisualPasscodeAnswer,
)
def visual_passcode(deps: DepsDep, who: ClinicDep, body: VisualPasscodeRequest) -> SpecJSONResponse:
    """目視確認用パスコード取得 (OQS-IF-049/050): a passcode for one visual check at this
    clinic, valid a few minutes (`ONSHI_VISUAL_PASSCODE_TTL_S`, 600 s unless set)."""
    return SpecJSONResponse(passcodes.issue_passcode(deps, clinic=who, request=body))
