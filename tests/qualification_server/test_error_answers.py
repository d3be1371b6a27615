"""An internal error's answer names the request the log names."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

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
    with caplog.at_level(logging.ERROR, logger="qualification_server.api.errors"):
        response = TestClient(world.client.app, raise_server_exceptions=False).get(
            "/v1/broken", headers=headers
        )
    assert response.status_code == 500
    answered = response.json()["error"]["request_id"]
    assert answered == (sent or answered)
    (logged,) = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged.endswith(f"request {answered}")
    assert response.json()["error"]["detail"] == f"request {answered}"
