"""An internal error's answer names the request the log names."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from clinic_client.api import QualificationClient, ServerRefused
from qualification_server.contract.codes import CATALOGUE, Code
from tests.support.world import World

pytestmark = pytest.mark.db


@pytest.mark.parametrize("sent", [None, "desk-42"])
def test_an_internal_error_answers_with_the_request_id_it_logged(
    world: World, caplog: pytest.LogCaptureFixture, sent: str | None
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    world.client.app.add_api_route("/v1/broken", broken)  # type: ignore[attr-defined]
    headers = {"X-Request-ID": sent} if sent else {}
    with caplog.at_level(logging.ERROR, logger="onshi_kernel.http_errors"):
        response = TestClient(world.client.app, raise_server_exceptions=False).get(
            "/v1/broken", headers=headers
        )
    assert response.status_code == 500
    answered = response.json()["error"]["request_id"]
    assert answered == (sent or answered)
    (logged,) = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged.endswith(f"request {answered}")
    assert response.json()["error"]["detail"] == f"request {answered}"


def test_a_refusal_is_the_contracts_five_fields_as_clinic_client_reads_them(world: World) -> None:
    response = world.client.post(
        "/v1/challenges", json={"purpose": "check"}, headers={"X-Request-ID": "desk-7"}
    )
    assert response.status_code == 401
    info = CATALOGUE[Code.CLIENT_UNAUTHENTICATED]
    error = response.json()["error"]
    assert list(error) == ["code", "message", "message_it", "detail", "request_id"]
    assert (error["code"], error["message"], error["message_it"], error["request_id"]) == (
        "Q5001", info.front_desk, info.it, "desk-7",
    )  # fmt: skip
    refused = QualificationClient(
        "http://unused", "1310000017.x", http=TestClient(world.client.app)
    )
    with pytest.raises(ServerRefused) as raised:
        refused.challenge()
    assert (raised.value.code, raised.value.message) == ("Q5001", info.front_desk)
