"""Lookups without a card: 個別照会 by insured-card number, and 一括照会 of many."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, status

from qualification_server.api.dependencies import ClinicDep, DepsDep
from qualification_server.api.responses import LOOKUP_ERRORS, SpecJSONResponse
from qualification_server.contract.batch import (
    BatchReceipt,
    BatchResult,
    BatchSubmission,
    ReceptionNumber,
)
from qualification_server.contract.schemas import (
    EligibilityAnswer,
    InsuredNumberLookupRequest,
)
from qualification_server.lookups import batches
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
    looked = lookups.insured_number_lookup(deps, clinic=who, request=body)
    return SpecJSONResponse(looked.answer, headers=looked.headers)


BATCH_ERRORS = {
    **LOOKUP_ERRORS,
    409: {**LOOKUP_ERRORS[409], "description": "the Idempotency-Key was used for other entries"},
}
FETCH_ERRORS: dict[int | str, dict[str, Any]] = {
    status_code: LOOKUP_ERRORS[status_code] for status_code in (401, 403, 404, 422, 503)
}


@router.post(
    "/v1/eligibility/batches",
    status_code=status.HTTP_202_ACCEPTED,
    responses=BATCH_ERRORS,
    tags=["clinic"],
    response_model=BatchReceipt,
)
def submit_batch(
    deps: DepsDep,
    who: ClinicDep,
    body: BatchSubmission,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="the client's id of this submission: a retry with the same key "
            "answers the same reception number and counts nothing again",
        ),
    ] = None,
) -> SpecJSONResponse:
    """一括照会, step 1 (OQSmuquc01): the entries are stored and a ReceptionNumber answered at
    once; the server looks them up in the background."""
    receipt = batches.submit(deps, clinic=who, request=body, idempotency_key=idempotency_key)
    return SpecJSONResponse(receipt, status_code=status.HTTP_202_ACCEPTED)


@router.get(
    "/v1/eligibility/batches/{reception_number}",
    responses=FETCH_ERRORS,
    tags=["clinic"],
    response_model=BatchResult,
)
def fetch_batch(
    deps: DepsDep, who: ClinicDep, reception_number: Annotated[ReceptionNumber, Path()]
) -> SpecJSONResponse:
    """一括照会, step 2 (OQSmuquc02): the result, 処理中 (SegmentOfResult 2) until it is done;
    an unknown number or another clinic's is Q4004."""
    return SpecJSONResponse(batches.fetch(deps, clinic=who, reception_number=reception_number))
