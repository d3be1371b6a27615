"""照会番号登録, single and bulk."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qualification_server.api.dependencies import ClinicDep, DepsDep
from qualification_server.api.responses import LOOKUP_ERRORS, SpecJSONResponse
from qualification_server.contract.reference_numbers import (
    ReferenceNumberAnswer,
    ReferenceNumberBatchAnswer,
    ReferenceNumberBatchRequest,
    ReferenceNumberRequest,
)
from qualification_server.reference_numbers import service as reference_numbers

router = APIRouter()

REGISTRATION_ERRORS: dict[int | str, dict[str, Any]] = {
    **LOOKUP_ERRORS,
    409: {
        **LOOKUP_ERRORS[409],
        "description": "several holders without 枝番 (Q4006), or the number is this clinic's "
        "for another person (Q4007)",
    },
}


@router.post(
    "/v1/reference-numbers",
    responses=REGISTRATION_ERRORS,
    tags=["clinic"],
    response_model=ReferenceNumberAnswer,
)
def register(deps: DepsDep, who: ClinicDep, body: ReferenceNumberRequest) -> SpecJSONResponse:
    """照会番号登録 (OQSsiimm01): the clinic's own number for the person the insured number
    and birth date name; a number registered before for that person is replaced."""
    return SpecJSONResponse(reference_numbers.register(deps, clinic=who, request=body))


@router.post(
    "/v1/reference-numbers/batch",
    responses=LOOKUP_ERRORS,
    tags=["clinic"],
    response_model=ReferenceNumberBatchAnswer,
)
def register_batch(
    deps: DepsDep, who: ClinicDep, body: ReferenceNumberBatchRequest
) -> SpecJSONResponse:
    """照会番号一括登録 (OQSmuimm01), answered at once: one BulkRegistrationUnit per entry,
    each registered or refused on its own."""
    return SpecJSONResponse(reference_numbers.register_batch(deps, clinic=who, request=body))
