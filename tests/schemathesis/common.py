"""What every server's schemathesis run checks, and how many examples it takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema_rs
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.openapi.checks import RejectedPositiveData

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Why a request the document calls valid was refused, when the reason is one no JSON Schema
# can state (a check digit, a signature, a configured limit, what the server holds); None
# when the refusal is not one of those: the document is looser than the server.
Excuse = Callable[[Case, Response], str | None]


def accepts_valid_requests(excuse: Excuse) -> Callable[[CheckContext, Response, Case], None]:
    """schemathesis's `positive_data_acceptance` (a request generated as valid is not
    refused with 400, 413 or 422), except for the refusals `excuse` explains."""

    def valid_requests_are_accepted(ctx: CheckContext, response: Response, case: Case) -> None:
        try:
            positive_data_acceptance(ctx, response, case)
        except RejectedPositiveData:
            if excuse(case, response) is None:
                raise

    return valid_requests_are_accepted


def is_positive(case: Case) -> bool:
    """True for a case schemathesis generated as valid (not one a test built by hand)."""
    return case.meta is not None and case.meta.generation.mode.is_positive


def examples(count: int) -> settings:
    """`count` examples an operation, on one fixture (the app must cope with what the
    examples before it left behind)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def document_accepts(document: dict[str, Any], path: str, body: Any) -> bool:
    """True if `body` is valid for the JSON request body of POST `path` by the document."""
    content = document["paths"][path]["post"]["requestBody"]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    return bool(jsonschema_rs.validator_for(schema).is_valid(body))
