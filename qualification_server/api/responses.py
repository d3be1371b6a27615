"""What every route answers besides its own model: the numbered error answers it documents,
and the eligibility answer serialised as the wire wants it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Response

from qualification_server.contract.schemas import ErrorResponse, Spec

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    413: {"model": ErrorResponse, "description": "a body larger than the server accepts"},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse, "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
}
# Lookups by insured number also meet the rate limits, and a batch may be too large.
LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    413: {"model": ErrorResponse, "description": "a body or a batch larger than allowed"},
    429: {
        "model": ErrorResponse,
        "description": "a rate limit of the clinic reached (Q4002)",
        "headers": {
            "Retry-After": {
                "description": "seconds until the limit's window ends",
                "schema": {"type": "integer"},
            }
        },
    },
}


class SpecJSONResponse(Response):
    """An answer model serialised once, absent elements omitted (never null)."""

    media_type = "application/json"

    def __init__(
        self, model: Spec, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(
            model.model_dump_json(exclude_none=True), status_code=status_code, headers=headers
        )
