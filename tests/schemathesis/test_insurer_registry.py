"""Schemathesis against the insurer registry's OpenAPI document, in process, on a real
database: no 5xx, and every answer (status code, content type, body) is one the document
promises. The insurer API is called with an insurer's credential, the network API with a
network credential."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from card_reader.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from insurer_registry.app import create_app
from insurer_registry.settings import Settings
from tests.insurer_registry.conftest import (  # noqa: F401 - fixtures
    INSURER_A,
    RegisteredInsurer,
    client,
    database_url,
    engine,
    insurer_a,
    member_body,
    migrated_engine,
    my_number,
    network_token,
    sessions,
    settings,
)

from .common import CHECKS, examples

pytestmark = pytest.mark.db

# One database for all of an operation's examples, on purpose: the registry must cope with
# whatever the examples before left behind (members, used request ids).
EXAMPLES = examples(20)

# The registry as `create_app` builds it; its OpenAPI document depends on the routes only.
DOCUMENT_APP: FastAPI = create_app(Settings(database_url="sqlite://", env="development"))
schema = schemathesis.openapi.from_asgi("/openapi.json", DOCUMENT_APP)


class Caller:
    """The registry under test, called with the credential each API needs."""

    def __init__(self, client: TestClient, insurer: RegisteredInsurer, network: str) -> None:
        self.app = client.app
        self.insurer = insurer
        self.network = network

    def headers(self, case: schemathesis.Case) -> dict[str, str]:
        token = self.network if case.path.startswith("/network/") else self.insurer.token
        return {"Authorization": f"Bearer {token}"}

    def validate(self, case: schemathesis.Case) -> Any:
        """Send `case` with the right credential; check the answer against the document."""
        return case.call_and_validate(app=self.app, headers=self.headers(case), checks=CHECKS)


@pytest.fixture
def caller(client: TestClient, insurer_a: RegisteredInsurer, network_token: str) -> Caller:
    return Caller(client, insurer_a, network_token)


def test_the_document_tested_is_the_registrys(client: TestClient) -> None:
    assert client.app.openapi() == DOCUMENT_APP.openapi()  # type: ignore[attr-defined]


@schema.parametrize()
@EXAMPLES
def test_every_operation_keeps_its_promises(case: schemathesis.Case, caller: Caller) -> None:
    caller.validate(case)


def _write(path: str, method: str, body: Any, key: str, **extra: Any) -> schemathesis.Case:
    return schema[path][method].Case(body=body, headers={"Idempotency-Key": key}, **extra)


def test_every_answer_of_a_valid_request_keeps_its_promises(caller: Caller) -> None:
    """One valid request per operation, each answered as documented."""
    created = caller.validate(_write("/v1/members", "POST", member_body(1), "k-1"))
    assert created.status_code == 201
    member = created.json()
    qid = {"qualification_id": member["QualificationId"]}
    get = schema["/v1/members/{qualification_id}"]["GET"]
    assert caller.validate(get.Case(path_parameters=qid)).status_code == 200
    correction = {"NameKana": "ヤマダ　タロー", "Version": member["Version"]}
    patch = _write("/v1/members/{qualification_id}", "PATCH", correction, "k-2",
                   path_parameters=qid)  # fmt: skip
    assert caller.validate(patch).status_code == 200
    loss = {"DisqualificationDate": "20250401", "ReasonOfLoss": "01"}
    lost = _write("/v1/members/{qualification_id}/loss", "POST", loss, "k-3", path_parameters=qid)
    assert caller.validate(lost).status_code == 200
    history = schema["/v1/members/{qualification_id}/history"]["GET"]
    assert caller.validate(history.Case(path_parameters=qid)).status_code == 200
    search = schema["/v1/members/search"]["POST"].Case(body={"InsuredIdentificationNumber": "1001"})
    assert caller.validate(search).status_code == 200
    csv = (
        "InsurerNumber,MyNumber,InsuredCardSymbol,InsuredIdentificationNumber,"
        "InsuredBranchNumber,InsuredCardClassification,PersonalFamilyClassification,Name,"
        "NameKana,Sex1,Birthdate,QualificationDate,InsuredPartialContributionRatio\n"
        f"{INSURER_A},{my_number(2)},東京１,1002,00,01,1,山田　花子,ヤマダ　ハナコ,2,19820101,"
        "20200401,030\n"
    ).encode()
    imported = _write("/v1/imports", "POST", csv, "k-4", media_type="text/csv")
    assert caller.validate(imported).status_code == 201
    by_person = schema["/network/v1/qualifications/by-person"]["POST"]
    ref = person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)
    assert caller.validate(by_person.Case(body={"PersonRef": ref})).status_code == 200
    by_number = schema["/network/v1/qualifications/by-insured-number"]["POST"]
    number = {"InsurerNumber": INSURER_A, "InsuredCardSymbol": "東京１",
              "InsuredIdentificationNumber": "1002", "InsuredBranchNumber": "00"}  # fmt: skip
    assert caller.validate(by_number.Case(body=number)).status_code == 200


def test_every_refusal_of_a_write_keeps_its_promises(caller: Caller) -> None:
    """A conflict, a reused request id, a missing one, a rejected import: as documented."""
    assert caller.validate(_write("/v1/members", "POST", member_body(1), "r-1")).status_code == 201
    again = caller.validate(_write("/v1/members", "POST", member_body(1), "r-2"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "qualification_exists")
    reused = caller.validate(_write("/v1/members", "POST", member_body(2), "r-1"))
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    no_key = caller.validate(schema["/v1/members"]["POST"].Case(body=member_body(3)))
    assert no_key.status_code == 400
    bad_csv = _write("/v1/imports", "POST", b"InsurerNumber\n99999999\n", "r-3",
                     media_type="text/csv")  # fmt: skip
    assert caller.validate(bad_csv).status_code == 422
