"""Only the registry's own caller-mistake errors become a 422 that quotes them; any other
ValueError is an internal error whose text (which could echo input) stays out of the answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from insurer_registry.errors import CallerMistake

pytestmark = pytest.mark.db

SECRET = "123456789018"


def _answer(client: TestClient, error: Exception) -> tuple[int, str]:
    def raising() -> None:
        raise error

    client.app.add_api_route("/v1/raising", raising)  # type: ignore[attr-defined]
    response = TestClient(client.app, raise_server_exceptions=False).get("/v1/raising")
    return response.status_code, response.text


def test_an_unexpected_value_error_is_an_internal_error_that_echoes_nothing(
    client: TestClient,
) -> None:
    status, text = _answer(client, ValueError(f"could not parse {SECRET}"))
    assert status == 500
    assert SECRET not in text


def test_a_caller_mistake_is_a_422_naming_the_problem(client: TestClient) -> None:
    status, text = _answer(client, CallerMistake("search by insured number or birth date"))
    assert status == 422
    assert "search by insured number" in text
