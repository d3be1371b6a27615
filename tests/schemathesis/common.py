"""What every server's schemathesis run checks, and how many examples it takes."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def examples(count: int) -> settings:
    """`count` examples an operation, on one fixture (the app must cope with what the
    examples before it left behind)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
