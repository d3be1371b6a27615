"""Lookups without a card: 個別照会 by insured-card number, and 一括照会 of many."""

from __future__ import annotations

from fastapi import APIRouter

from qualification_server.api.dependencies import ClinicDep, DepsDep
from qualification_server.api.responses import LOOKUP_ERRORS, SpecJSONResponse
from qualification_server.contract.schemas import (
    BatchAnswer,
    BatchLookupRequest,
    EligibilityAnswer,
    InsuredNumberLookupRequest,
)
from qualification_server.lookups import service as lookups

router = APIRouter()


@router.post(
    "/v1/eligibility/insured-number",
    responses=LOOKUP_ERRORS,
    tags=["clinic"],
    response_model=EligibilityAnswer,
)
def insured_number(
    deps: DepsDep, who: ClinicDep, body: InsuredNumberLookupRequest
) -> SpecJSONResponse:
    """個別照会 by insurer number, 記号, 番号, 枝番 and birth date (no card)."""
    return SpecJSONResponse(lookups.insured_number_lookup(deps, clinic=who, request=body))


@router.post(
    "/v1/eligibility/batch", responses=LOOKUP_ERRORS, tags=["clinic"], response_model=BatchAnswer
)
def batch(deps: DepsDep, who: ClinicDep, body: BatchLookupRequest) -> SpecJSONResponse:
    """一括照会 of many insured numbers (e.g. tomorrow's appointments)."""
    return SpecJSONResponse(lookups.batch_lookup(deps, clinic=who, request=body))
