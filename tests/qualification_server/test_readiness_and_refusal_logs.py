"""`/readyz` says not ready while a CA's CRL is missing or stale (every card check of its
cards would fail closed), naming the CA; and every refused request is one log line for IT
with its code, request id, clinic and route, and nothing the request sent."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from card_reader.issuance.profile import AUTH_KINDS
from tests.support.world import CLINIC, KYOKAI, World

pytestmark = pytest.mark.db

REFUSALS = "onshi_kernel.refusals"


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == REFUSALS]


def test_ready_while_every_crl_is_current(world: World) -> None:
    response = world.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


def test_not_ready_while_a_crl_is_missing_naming_the_ca(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.issuer.crl_path.unlink()
    with caplog.at_level(logging.WARNING):
        response = world.client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "Q1006"
    subject = world.issuer.auth_ca.certificate.subject.rfc4514_string()
    assert error["detail"] == f"no CRL loaded for {subject}"
    # the card check fails closed the same way: readiness told the truth
    status, body = world.check("yamada-taro")
    assert (status, body["error"]["code"]) == (503, "Q1006")
    (line, *_) = refusal_lines(caplog)
    assert line == 'refused code=Q1006 status=503 request_id=probe-1 clinic=- route="GET /readyz"'


def test_not_ready_once_a_crl_is_past_its_next_update(world: World) -> None:
    next_update = world.issuer.load_crl().next_update_utc
    assert next_update is not None
    assert world.client.get("/readyz").status_code == 200
    world.clock.now = next_update + dt.timedelta(seconds=1)
    response = world.client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "Q1006"
    assert "is stale (nextUpdate" in error["detail"]
    for kind in AUTH_KINDS:  # the cards' CA and the smartphones', each named
        subject = world.issuer._ca(kind).certificate.subject.rfc4514_string()
        assert f"the CRL of {subject} is stale" in error["detail"]
    # new CRLs published: ready again
    for kind in AUTH_KINDS:
        world.issuer.publish_crl([], world.clock.now, kind=kind)
    assert world.client.get("/readyz").status_code == 200


def test_a_refused_lookup_is_logged_with_code_request_id_clinic_and_route_only(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sent = {
        "InsurerNumber": KYOKAI.wire,
        "InsuredIdentificationNumber": "987654",
        "InsuredBranchNumber": "00",
        "Birthdate": "19770707",
    }
    with caplog.at_level(logging.WARNING):
        response = world.client.post(
            "/v1/eligibility/insured-number",
            json={"query": sent},
            headers={**world.headers(), "X-Request-ID": "desk-lookup-1"},
        )
    assert response.status_code >= 400, response.text
    code = response.json()["error"]["code"]
    (line,) = refusal_lines(caplog)
    assert line == (
        f"refused code={code} status={response.status_code} request_id=desk-lookup-1 "
        f'clinic={CLINIC} route="POST /v1/eligibility/insured-number"'
    )
    record = next(r for r in caplog.records if r.name == REFUSALS)
    assert record.levelno == logging.WARNING
    assert record.refusal["clinic"] == CLINIC  # type: ignore[attr-defined]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for value in ("987654", "19770707", "1977-07-07"):
        assert value not in everything


def test_a_refused_credential_names_the_clinic_it_claimed_never_its_secret(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"{CLINIC}.not-the-secret-at-all"
    with caplog.at_level(logging.WARNING):
        response = world.client.post(
            "/v1/challenges", json={"purpose": "check"}, headers=world.headers(wrong)
        )
    assert response.status_code == 401
    (line,) = refusal_lines(caplog)
    request_id = response.json()["error"]["request_id"]
    assert line == (
        f"refused code=Q5001 status=401 request_id={request_id} clinic={CLINIC} "
        'route="POST /v1/challenges"'
    )
    assert "not-the-secret" not in "\n".join(r.getMessage() for r in caplog.records)
    assert world.clinic_token.split(".", 1)[1] not in line


def test_an_invalid_request_is_logged_without_its_values(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = world.client.post(
            "/v1/eligibility/insured-number",
            json={"query": {"InsurerNumber": "x", "Birthdate": "1955-05-05"}},
            headers=world.headers(),
        )
    assert response.status_code == 422
    (line,) = refusal_lines(caplog)
    assert line.startswith("refused code=Q6001 status=422 ")
    assert f"clinic={CLINIC}" in line and "1955" not in line
