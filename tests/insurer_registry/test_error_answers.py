"""The registry's error answers: the kernel's body with the registry's numbered code, its
catalogue texts, the specifics in `detail` and the data the error carries; only the registry's
own caller-mistake errors become a 422 that quotes them, and any other ValueError is an
internal error whose text (which could echo input) stays out of the answer."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insurer_registry import errors
from insurer_registry.error_codes import CATALOGUE, RegistryCode
from insurer_registry.errors import CallerMistake
from insurer_registry.importer.service import ImportRejected, ImportReport
from tests.support.registry import RegisteredInsurer, Writer, member_body

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


def test_a_refusal_is_the_kernel_body_with_the_catalogue_texts_and_its_data(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    response = client.get(
        "/v1/members/999999", headers={**insurer_a.headers, "X-Request-ID": "r-1"}
    )
    info = CATALOGUE[RegistryCode.QUALIFICATION_NOT_FOUND]
    assert (response.status_code, response.json()) == (
        404,
        {
            "error": {
                "code": "R2001",
                "message": info.front_desk,
                "message_it": info.it,
                "detail": "qualification 999999 not found",
                "request_id": "r-1",
                "qualification_id": 999999,
            }
        },
    )


def test_a_version_conflict_says_both_versions_and_never_a_value(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = writer.post("/v1/members", insurer_a, member_body(1)).json()
    path = f"/v1/members/{member['QualificationId']}"
    writer.patch(path, insurer_a, {"Name": "山田　一"})
    stale = writer.patch(path, insurer_a, {"Name": "山田　二", "Version": 1})
    error = stale.json()["error"]
    assert (stale.status_code, error["code"]) == (409, RegistryCode.VERSION_CONFLICT)
    assert (error["expected_version"], error["current_version"]) == (1, 2)
    assert error["message"] == CATALOGUE[RegistryCode.VERSION_CONFLICT].front_desk
    assert "山田" not in stale.text


def test_a_request_that_breaks_the_schema_lists_its_problems_and_sums_them_up(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    response = writer.post("/v1/members", insurer_a, member_body(1, Birthdate="1980-04-01"))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (422, RegistryCode.INVALID_REQUEST)
    assert [p["field"] for p in error["problems"]] == ["Birthdate"]
    assert error["detail"].startswith("Birthdate: ")
    assert "1980-04-01" not in response.text


def _leaves(error_type: type[errors.RegistryError]) -> set[type[errors.RegistryError]]:
    below = error_type.__subclasses__()
    return {leaf for sub in below for leaf in _leaves(sub)} if below else {error_type}


REPORT = ImportReport(
    encoding="utf-8", file_digest="d", rows=1, inserted=0, updated=0, unchanged=0, rejected=1,
    committed=False, import_id=None, rejections=(),
)  # fmt: skip
ONE_OF_EACH = [
    errors.QualificationNotFound(7),
    errors.InsurerNotFound("01130012"),
    errors.InsurerExists("01130012"),
    errors.QualificationExists(7),
    errors.InsuredNumberTaken(7),
    errors.OverlappingQualification(7, date(2024, 4, 1), None),
    errors.AlreadyLost(7, date(2024, 4, 1)),
    errors.VersionConflict(7, 1, 2),
    errors.IdempotencyKeyReused("k-1"),
    errors.LinkageNotHeld(7, "matched"),
    errors.LinkageAlreadyConfirmedBy(7),
    errors.LinkageConfirmationByOperator(7),
    errors.RegisterUnavailable(),
    errors.AuthenticationFailed("unknown credential"),
    errors.IdempotencyKeyRequired("writes need an Idempotency-Key header"),
    ImportRejected(REPORT),
]


def test_every_registry_error_names_a_code_of_its_own() -> None:
    assert {type(error) for error in ONE_OF_EACH} == _leaves(errors.RegistryError)
    assert len({error.code for error in ONE_OF_EACH}) == len(ONE_OF_EACH)


def test_the_readme_lists_every_code_with_its_status() -> None:
    readme = (Path(__file__).parents[2] / "insurer_registry" / "README.md").read_text()
    listed = dict(re.findall(r"^\| `(R\d{4})` \| (\d{3}) \|", readme, flags=re.MULTILINE))
    assert listed == {code.value: str(info.http_status) for code, info in CATALOGUE.items()}
