"""The card check answered as FHIR R4B (CoverageEligibilityResponse + Coverage, JP Core), and
its refusals as OperationOutcome, each checked by an independent validator
(tests/fhir_validator: HL7's core package hl7.fhir.r4b.core 4.3.0, with ajv and fhirpath.js),
not only by fhir.resources, the library the server builds them with."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from sqlalchemy.exc import OperationalError

from qualification_server.answers.fhir import (
    ERROR_CODE_SYSTEM,
    EXT_BRANCH,
    EXT_LIMIT,
    EXT_NUMBER,
    EXT_SYMBOL,
    FHIR_JSON,
)
from qualification_server.cards.fhir_route import FHIRJSONResponse, FHIRRoute
from tests.fhir_validator.validator import FHIRValidator, session_validator
from tests.support.world import World

pytestmark = pytest.mark.db
URL = "/fhir/v1/eligibility/card"


@pytest.fixture(scope="session")
def validator() -> Iterator[FHIRValidator]:
    yield from session_validator()


def _body(world: World, label: str, consents: dict[str, bool] | None = None) -> dict[str, Any]:
    challenge = world.challenge()
    proof = world.proof(label, challenge)
    return {
        "challenge": challenge,
        "certificate": proof["certificate"],
        "proof": {"method": "pin", "signature": proof["signature"]},
        "consents": consents or {},
    }


def _post(world: World, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    response: httpx.Response = world.client.post(URL, json=body, headers=headers or world.headers())
    return response


def _valid(validator: FHIRValidator, response: httpx.Response) -> dict[str, Any]:
    """The answer's resource, after checking its media type and its validity."""
    assert response.headers["content-type"].split(";")[0] == FHIR_JSON
    resource: dict[str, Any] = response.json()
    errors = validator.errors(resource)
    assert not errors, "\n".join(errors)
    return resource


def _fhir_card_check(world: World, label: str) -> CoverageEligibilityResponse:
    response = _post(world, _body(world, label))
    assert response.status_code == 200, response.text
    return CoverageEligibilityResponse.model_validate(response.json())


def _coverage(resource: dict[str, Any]) -> dict[str, Any]:
    (coverage,) = (r for r in resource["contained"] if r["resourceType"] == "Coverage")
    return dict(coverage)


def test_card_check_as_coverage_eligibility_response(world: World) -> None:
    world.register("yamada-taro")
    resource = _fhir_card_check(world, "yamada-taro")
    assert resource.outcome == "complete"
    assert resource.insurance[0].inforce is True
    contained = {r.__resource_type__: r for r in resource.contained}
    coverage = contained["Coverage"]
    extensions = {e.url: e.valueString for e in coverage.extension}
    assert extensions == {EXT_SYMBOL: "記号12", EXT_NUMBER: "1001", EXT_BRANCH: "00"}
    assert coverage.dependent == "00"
    assert str(coverage.period.start) == "2010-04-01"
    assert coverage.costToBeneficiary[0].valueQuantity.value == 30
    patient = contained["Patient"]
    assert str(patient.birthDate) == "1980-04-01"
    assert patient.gender == "male"
    assert contained["Organization"].identifier[0].value == "01130012"


def test_the_answer_is_valid_fhir_without_the_limit_certificate_unless_consented(
    world: World, validator: FHIRValidator
) -> None:
    world.register("yamada-taro")
    response = _post(world, _body(world, "yamada-taro"))
    assert response.status_code == 200, response.text
    resource = _valid(validator, response)
    assert resource["resourceType"] == "CoverageEligibilityResponse"
    urls = [e["url"] for e in _coverage(resource)["extension"]]
    assert EXT_LIMIT not in urls


def test_the_limit_certificate_is_carried_when_consented(
    world: World, validator: FHIRValidator
) -> None:
    """限度額適用認定証 with consent: the Coverage's limit-application-certificate extension
    (区分 01 限度額適用, 適用区分 A03, valid from 2026-04-01), and still valid FHIR."""
    world.register("yamada-taro")
    response = _post(world, _body(world, "yamada-taro", {"limit_application": True}))
    assert response.status_code == 200, response.text
    resource = _valid(validator, response)
    (limit,) = (e for e in _coverage(resource)["extension"] if e["url"] == EXT_LIMIT)
    parts = {p["url"]: p for p in limit["extension"]}
    assert parts["classification"]["valueCoding"]["code"] == "01"
    assert parts["classification"]["valueCoding"]["display"] == "限度額適用"
    assert parts["incomeClass"]["valueCoding"]["code"] == "A03"
    assert parts["validPeriod"]["valuePeriod"] == {"start": "2026-04-01"}


def _issue(
    validator: FHIRValidator, response: httpx.Response, status: int, code: str
) -> dict[str, Any]:
    """The one issue of a refusal answered as a valid OperationOutcome, with `status` and
    the server's `code`."""
    assert response.status_code == status, response.text
    resource = _valid(validator, response)
    assert resource["resourceType"] == "OperationOutcome"
    (issue,) = resource["issue"]
    assert issue["severity"] == "error"
    (coding,) = issue["details"]["coding"]
    assert (coding["system"], coding["code"]) == (ERROR_CODE_SYSTEM, code)
    assert coding["display"] == issue["details"]["text"]
    return dict(issue)


def test_an_unauthenticated_clinic_gets_an_operation_outcome(
    world: World, validator: FHIRValidator
) -> None:
    response = _post(
        world, _body(world, "yamada-taro"),
        headers={"Authorization": "Bearer not-a-token", "X-Request-ID": "fhir-401"},
    )  # fmt: skip
    issue = _issue(validator, response, 401, "Q5001")
    assert issue["code"] == "login"
    assert "request fhir-401" in issue["diagnostics"]


def test_a_malformed_body_gets_an_operation_outcome(world: World, validator: FHIRValidator) -> None:
    response = _post(
        world, {"challenge": "AAAA"}, headers={**world.headers(), "X-Request-ID": "r9"}
    )
    issue = _issue(validator, response, 422, "Q6001")
    assert issue["code"] == "structure"
    assert issue["diagnostics"].endswith("request r9")
    assert "certificate" in issue["diagnostics"]  # the field the body lacks


def test_an_undecodable_body_gets_an_operation_outcome(
    world: World, validator: FHIRValidator
) -> None:
    response = world.client.post(
        URL, content=b"\xff\xfe{", headers={**world.headers(), "Content-Type": "application/json"}
    )
    assert _issue(validator, response, 422, "Q6001")["code"] == "structure"


def test_an_unregistered_card_gets_an_operation_outcome(
    world: World, validator: FHIRValidator
) -> None:
    issue = _issue(validator, _post(world, _body(world, "yamada-taro")), 404, "Q3001")
    assert issue["code"] == "not-found"
    assert issue["details"]["text"]  # the front desk's Japanese text


def test_a_revoked_card_gets_an_operation_outcome(world: World, validator: FHIRValidator) -> None:
    world.register("yamada-taro")
    der = base64.b64decode(world.proof("yamada-taro", world.challenge())["certificate"])
    world.issuer.revoke(x509.load_der_x509_certificate(der).serial_number)
    issue = _issue(validator, _post(world, _body(world, "yamada-taro")), 403, "Q1005")
    assert issue["code"] == "business-rule"


def _fhir_route_raising(world: World, path: str, exc: Exception) -> None:
    def broken() -> None:
        raise exc

    world.client.app.router.add_api_route(  # type: ignore[attr-defined]
        path, broken, route_class_override=FHIRRoute, response_class=FHIRJSONResponse
    )


def test_a_bug_on_a_fhir_route_is_an_exception_outcome_logged_by_the_standard_handler(
    world: World, validator: FHIRValidator, caplog: pytest.LogCaptureFixture
) -> None:
    _fhir_route_raising(world, "/fhir/v1/broken", RuntimeError("a bug"))
    with caplog.at_level(logging.ERROR, logger="onshi_kernel.http_errors"):
        response = world.client.get("/fhir/v1/broken", headers={"X-Request-ID": "bug-1"})
    issue = _issue(validator, response, 500, "Q9001")
    assert issue["code"] == "exception"
    assert issue["diagnostics"].endswith("request bug-1")
    (logged,) = [r.getMessage() for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged.endswith("request bug-1")


def test_a_database_outage_on_a_fhir_route_keeps_its_retry_after(
    world: World, validator: FHIRValidator
) -> None:
    _fhir_route_raising(world, "/fhir/v1/down", OperationalError("SELECT 1", {}, Exception()))
    response = world.client.get("/fhir/v1/down")
    issue = _issue(validator, response, 503, "Q9002")
    assert issue["code"] == "transient"
    assert response.headers["Retry-After"] == "2"


def test_the_json_route_keeps_its_own_error_body(world: World) -> None:
    response = world.client.post("/v1/eligibility/card", json={}, headers=world.headers())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "Q6001"


def test_the_validator_is_no_rubber_stamp(validator: FHIRValidator) -> None:
    """What it must find: a missing required element, a code outside a required value set,
    an unknown element, and an extension with both a value and extensions."""
    errors = validator.errors(
        {"resourceType": "OperationOutcome", "issue": [{"severity": "fatalish", "bogus": 1,
         "extension": [{"url": "u", "valueString": "x", "extension": [{"url": "v",
                                                                          "valueCode": "c"}]}]}]}
    )  # fmt: skip
    text = "\n".join(errors)
    assert "issue[0].code: at least 1 required" in text
    assert '"fatalish" is not in http://hl7.org/fhir/ValueSet/issue-severity' in text
    assert "must NOT have additional properties" in text
    assert "ext-1" in text
    assert validator.errors({"resourceType": "CoverageEligibilityResponse"})


def test_a_loss_recorded_in_advance_leaves_the_coverage_in_force_until_that_day(
    world: World,
) -> None:
    """An insurer records a loss that starts next month: today the coverage is still in
    force (inforce true); the loss date is the first day without it."""
    import datetime as dt

    from insurer_registry import db as registry_db
    from insurer_registry.insurers.service import get_insurer
    from insurer_registry.members.audit import Actor
    from insurer_registry.members.codes import ReasonOfLoss
    from insurer_registry.members.service import record_loss
    from tests.support.world import KYOKAI

    world.register("yamada-taro")
    with registry_db.transaction(world.registry) as session:
        record_loss(
            session=session, insurer=get_insurer(session=session, number=KYOKAI),
            qualification_id=world.qualification_ids["yamada"],
            loss_date=dt.date.today() + dt.timedelta(days=40), reason=ReasonOfLoss.OTHER,
            actor=Actor.operator("test"),
        )  # fmt: skip
    resource = _fhir_card_check(world, "yamada-taro")
    assert resource.insurance[0].inforce is True
