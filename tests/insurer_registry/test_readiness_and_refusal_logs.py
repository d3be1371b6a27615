"""The registry's liveness and readiness (its database), and every refused request as one log
line for IT: code, request id, the insurer (or network credential) and the route, nothing
the request sent."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insurer_registry.api.app import create_app
from insurer_registry.db import make_engine
from insurer_registry.settings import Settings
from tests.support.registry import INSURER_A, RegisteredInsurer, member_body, my_number

pytestmark = pytest.mark.db

REFUSALS = "onshi_kernel.refusals"


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == REFUSALS]


def test_live_and_ready_on_its_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "resident_register": 1000}


def test_not_ready_without_a_resident_register(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # ONSHI_RESIDENT_REGISTER_FILES names a file that is not there: every registration
    # would be held, which readiness says rather than letting registrations pile up held.
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    settings = Settings(
        database_url=url, env="development", resident_register_files=[tmp_path / "none.json"]
    )
    with caplog.at_level(logging.WARNING), TestClient(create_app(settings)) as client:
        response = client.get("/readyz", headers={"X-Request-ID": "probe-8"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "R9003"
    assert response.headers["Retry-After"] == "30"
    assert refusal_lines(caplog) == [
        'refused code=R9003 status=503 request_id=probe-8 insurer=- route="GET /readyz"'
    ]


def test_not_ready_while_its_database_does_not_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the database's folder removed under it: SQLite cannot open the file any more
    url = f"sqlite:///{tmp_path / 'gone' / 'registry.db'}"
    settings = Settings(database_url=url, env="development")
    app = create_app(settings, engine=make_engine(url))
    shutil.rmtree(tmp_path / "gone")
    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz", headers={"X-Request-ID": "probe-7"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "R9002"
    assert refusal_lines(caplog) == [
        'refused code=R9002 status=503 request_id=probe-7 insurer=- route="GET /readyz"'
    ]


def test_a_refused_write_names_the_insurer_and_no_member_data(
    client: TestClient, insurer_a: RegisteredInsurer, caplog: pytest.LogCaptureFixture
) -> None:
    body = member_body(5, Birthdate="19991399")  # no such month: refused
    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/v1/members",
            json=body,
            headers={**insurer_a.headers, "Idempotency-Key": "k-1", "X-Request-ID": "ins-op-3"},
        )
    assert response.status_code == 422, response.text
    code = response.json()["error"]["code"]
    (line,) = refusal_lines(caplog)
    assert line == (
        f"refused code={code} status=422 request_id=ins-op-3 insurer={INSURER_A} "
        'route="POST /v1/members"'
    )
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for value in (my_number(5), "19991399", "山田", "ヤマダ", body["InsuredIdentificationNumber"]):
        assert value not in everything


def test_a_refused_credential_is_logged_without_it(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.get(
            "/v1/members/1", headers={"Authorization": "Bearer ins_nobody_secret123"}
        )
    assert response.status_code == 401
    (line,) = refusal_lines(caplog)
    assert line.startswith("refused code=R4001 status=401 ") and " insurer=- " in line
    assert "secret123" not in line
