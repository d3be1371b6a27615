"""The member API: register, correct, record a loss, read, search, history; who may do
what; idempotent retries; errors that never echo personal data."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from insurer_registry.api.http_errors import MAX_REQUEST_BYTES
from insurer_registry.db import transaction
from insurer_registry.error_codes import RegistryCode
from insurer_registry.models import Qualification
from tests.support.registry import INSURER_A, RegisteredInsurer, Writer, member_body, my_number

pytestmark = pytest.mark.db


def register(writer: Writer, insurer: RegisteredInsurer, n: int = 1, **overrides: Any) -> Any:
    response = writer.post("/v1/members", insurer, member_body(n, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_register_answers_the_stored_qualification(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a, InsuredBranchNumber="01", InsuredCardSymbol=None)
    assert member["InsurerNumber"] == INSURER_A
    assert member["InsuredBranchNumber"] == "01"
    assert member["Birthdate"] == "19800401"
    assert member["Version"] == 1
    assert "InsuredCardSymbol" not in member or member["InsuredCardSymbol"] is None
    assert "MyNumber" not in member


def test_get_returns_what_was_registered(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    got = client.get(f"/v1/members/{member['QualificationId']}", headers=insurer_a.headers)
    assert got.status_code == 200
    assert got.json() == member


def test_registration_with_certificates_keeps_them(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(
        writer,
        insurer_a,
        Birthdate="19520810",
        ElderlyRecipientCertificateInfo={
            "ElderlyRecipientValidStartDate": "20220901",
            "ElderlyRecipientValidEndDate": "20240731",
            "ElderlyRecipientContributionRatio": "020",
        },
        LimitApplicationCertificateRelatedInfo={
            "LimitApplicationCertificateClassification": "01",
            "LimitApplicationCertificateClassificationFlag": "A04",
            "LimitApplicationCertificateValidStartDate": "20240401",
        },
        SpecificDiseasesCertificateList=[
            {"SpecificDiseasesDiseaseCategory": "1", "SpecificDiseasesValidStartDate": "20230101"}
        ],
    )
    got = client.get(f"/v1/members/{member['QualificationId']}", headers=insurer_a.headers).json()
    assert got["ElderlyRecipientCertificateInfo"]["ElderlyRecipientContributionRatio"] == "020"
    assert got["LimitApplicationCertificateRelatedInfo"][
        "LimitApplicationCertificateClassificationFlag"
    ] == ("A04")
    assert got["SpecificDiseasesCertificateList"][0]["SpecificDiseasesDiseaseCategory"] == "1"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"MyNumber": "123456789012"}, "MyNumber"),
        ({"InsuredBranchNumber": "1"}, "InsuredBranchNumber"),
        ({"Birthdate": "19801301"}, "Birthdate"),
        ({"QualificationDate": "19700101"}, "QualificationDate"),
        ({"Sex1": "4"}, "Sex1"),
        ({"InsuredPartialContributionRatio": "30"}, "InsuredPartialContributionRatio"),
        ({"DisqualificationDate": "20190101", "ReasonOfLoss": "03"}, "DisqualificationDate"),
        ({"InsurerNumber": "138008"}, "InsurerNumber"),
    ],
)
def test_a_broken_rule_is_422_naming_the_field(
    writer: Writer, insurer_a: RegisteredInsurer, overrides: dict[str, str], field: str
) -> None:
    response = writer.post("/v1/members", insurer_a, member_body(1, **overrides))
    assert response.status_code == 422
    assert field in {problem["field"] for problem in response.json()["error"]["problems"]}


def test_errors_never_echo_the_my_number_or_the_name(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    bad = member_body(1, MyNumber="123456789012", Name="秘密　花子", Birthdate="1980-04-01")
    response = writer.post("/v1/members", insurer_a, bad)
    assert response.status_code == 422
    assert "123456789012" not in response.text
    assert "秘密" not in response.text
    assert "1980-04-01" not in response.text


@pytest.mark.parametrize(
    ("element", "value", "said"),
    [
        ("Name", "山田\u202e太郎", "U+202E"),  # shown as 山田郎太 by the bidi algorithm
        ("Name", "山田\u200b太郎", "U+200B"),  # looks like 山田太郎, is not
        ("Name", "\ufeff山田　太郎", "U+FEFF"),
        ("Name", "山田\x85太郎", "U+0085"),
        ("InsuredName", "山田\u2066太郎", "U+2066"),
        ("NameKana", "ヤマダ\u200dタロウ", "U+200D"),
        ("Address", "東京都千代田区\u202e1-1", "U+202E"),
    ],
)
def test_a_control_or_format_character_in_a_name_is_refused_naming_the_code_point(
    writer: Writer, insurer_a: RegisteredInsurer, element: str, value: str, said: str
) -> None:
    response = writer.post("/v1/members", insurer_a, member_body(1, **{element: value}))
    assert response.status_code == 422, response.text
    assert error_code(response) == RegistryCode.INVALID_RECORD
    reason = f"contains {said} (a control or format character)"
    assert {"field": element, "reason": reason} in response.json()["error"]["problems"]
    assert value[1:3] not in response.text and "山田" not in response.text


def test_a_correction_may_not_bring_in_a_format_character(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    response = writer.patch(path, insurer_a, {"InsuredName": "山田\u200b一郎"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["problems"] == [
        {"field": "InsuredName", "reason": "contains U+200B (a control or format character)"}
    ]


def test_a_name_stored_before_the_rule_stays_readable_and_correctable(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer, sessions: Any
) -> None:
    member = register(writer, insurer_a)
    with transaction(sessions) as session:
        row = session.get(Qualification, member["QualificationId"])
        assert row is not None
        row.name = "山田\u200b太郎"
    path = f"/v1/members/{member['QualificationId']}"
    assert client.get(path, headers=insurer_a.headers).status_code == 200
    corrected = writer.patch(path, insurer_a, {"Name": "山田　太郎"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["Name"] == "山田　太郎"


def test_same_insured_number_and_date_twice_is_a_conflict(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    first = register(writer, insurer_a, 1)
    again = writer.post("/v1/members", insurer_a, member_body(1))
    assert again.status_code == 409
    assert error_code(again) == RegistryCode.QUALIFICATION_EXISTS
    assert again.json()["error"]["existing_qualification_id"] == first["QualificationId"]


def test_an_insured_number_belongs_to_one_person(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    register(writer, insurer_a, 1)
    other = member_body(2, InsuredIdentificationNumber="1001", QualificationDate="20210401")
    response = writer.post("/v1/members", insurer_a, other)
    assert response.status_code == 409
    assert error_code(response) == RegistryCode.INSURED_NUMBER_TAKEN


def test_one_person_holds_one_qualification_at_an_insurer_at_a_time(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    register(writer, insurer_a, 1)
    overlapping = member_body(1, InsuredIdentificationNumber="9999", QualificationDate="20230101")
    response = writer.post("/v1/members", insurer_a, overlapping)
    assert response.status_code == 409
    assert error_code(response) == RegistryCode.OVERLAPPING_QUALIFICATION


def test_a_new_period_may_start_on_the_loss_date(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    first = register(writer, insurer_a, 1)
    lost = writer.post(
        f"/v1/members/{first['QualificationId']}/loss",
        insurer_a,
        {"DisqualificationDate": "20230401", "ReasonOfLoss": "99"},
    )
    assert lost.status_code == 200
    register(
        writer,
        insurer_a,
        1,
        InsuredIdentificationNumber="9999",
        PersonalFamilyClassification="2",
        QualificationDate="20230401",
    )


def test_record_loss_ends_the_qualification_and_bumps_the_version(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    response = writer.post(
        f"/v1/members/{member['QualificationId']}/loss",
        insurer_a,
        {"DisqualificationDate": "20240401", "ReasonOfLoss": "03"},
    )
    assert response.status_code == 200
    lost = response.json()
    assert lost["DisqualificationDate"] == "20240401"
    assert lost["ReasonOfLoss"] == "03"
    assert lost["Version"] == 2


def test_a_second_loss_is_refused(writer: Writer, insurer_a: RegisteredInsurer) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}/loss"
    writer.post(path, insurer_a, {"DisqualificationDate": "20240401", "ReasonOfLoss": "03"})
    again = writer.post(path, insurer_a, {"DisqualificationDate": "20240501", "ReasonOfLoss": "03"})
    assert again.status_code == 409
    assert error_code(again) == RegistryCode.ALREADY_LOST


def test_loss_before_acquisition_is_refused(writer: Writer, insurer_a: RegisteredInsurer) -> None:
    member = register(writer, insurer_a)
    response = writer.post(
        f"/v1/members/{member['QualificationId']}/loss",
        insurer_a,
        {"DisqualificationDate": "20200331", "ReasonOfLoss": "03"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "DisqualificationDate"


def test_correct_changes_only_the_fields_sent(writer: Writer, insurer_a: RegisteredInsurer) -> None:
    member = register(writer, insurer_a)
    response = writer.patch(
        f"/v1/members/{member['QualificationId']}",
        insurer_a,
        {"Name": "山田　太朗", "NameKana": None, "Version": 1},
    )
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert corrected["Name"] == "山田　太朗"
    assert corrected.get("NameKana") is None
    assert corrected["Birthdate"] == member["Birthdate"]
    assert corrected["Version"] == 2


def test_correct_with_a_stale_version_is_refused(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    writer.patch(path, insurer_a, {"Name": "山田　一"})
    stale = writer.patch(path, insurer_a, {"Name": "山田　二", "Version": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == 2


def test_a_required_field_cannot_be_cleared(writer: Writer, insurer_a: RegisteredInsurer) -> None:
    member = register(writer, insurer_a)
    response = writer.patch(f"/v1/members/{member['QualificationId']}", insurer_a, {"Name": None})
    assert response.status_code == 422


def test_history_records_who_changed_which_fields_and_when(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    writer.patch(path, insurer_a, {"Name": "山田　太朗", "MyNumber": my_number(7)}, key="fix-1")
    writer.post(
        f"{path}/loss", insurer_a, {"DisqualificationDate": "20240401", "ReasonOfLoss": "03"}
    )
    history = client.get(f"{path}/history", headers=insurer_a.headers).json()
    changes = history["Changes"]
    assert [c["Action"] for c in changes] == ["register", "correct", "record_loss"]
    assert changes[1]["Fields"] == ["Name", "MyNumber"]
    assert changes[1]["RequestId"] == "fix-1"
    assert changes[2]["Fields"] == ["DisqualificationDate", "ReasonOfLoss"]
    assert all(c["Actor"].startswith("credential:ins_") for c in changes)
    assert [c["Version"] for c in changes] == [1, 2, 3]
    assert my_number(7) not in str(history)


def test_a_correction_that_changes_nothing_is_not_logged(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    same = writer.patch(path, insurer_a, {"Name": member["Name"]})
    assert same.json()["Version"] == 1
    history = client.get(f"{path}/history", headers=insurer_a.headers).json()
    assert len(history["Changes"]) == 1


def test_search_by_my_number_insured_number_and_kana(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    first = register(writer, insurer_a, 1)
    register(writer, insurer_a, 2, NameKana="スズキ　ハナコ", Name="鈴木　花子")

    def search(body: dict[str, Any]) -> list[int]:
        response = client.post("/v1/members/search", json=body, headers=insurer_a.headers)
        assert response.status_code == 200, response.text
        return [m["QualificationId"] for m in response.json()["Members"]]

    assert search({"MyNumber": my_number(1)}) == [first["QualificationId"]]
    assert search({"InsuredIdentificationNumber": "1001", "InsuredBranchNumber": "00"}) == [
        first["QualificationId"]
    ]
    assert len(search({"NameKana": "スズキハナコ"})) == 1
    assert len(search({"Birthdate": "19800401"})) == 2
    assert search({"MyNumber": my_number(3)}) == []


# --- who may do what -------------------------------------------------------------------


def test_requests_without_a_credential_are_401(client: TestClient) -> None:
    response = client.get("/v1/members/1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_code(response) == RegistryCode.INVALID_CREDENTIAL


@pytest.mark.parametrize("token", ["nonsense", "ins_000000000000.nope", "net_000000000000.nope"])
def test_unknown_credentials_are_401(client: TestClient, token: str) -> None:
    response = client.get("/v1/members/1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_a_network_credential_does_not_open_the_member_api(
    client: TestClient, network_token: str
) -> None:
    response = client.get("/v1/members/1", headers={"Authorization": f"Bearer {network_token}"})
    assert response.status_code == 401


def test_a_tampered_secret_is_refused(client: TestClient, insurer_a: RegisteredInsurer) -> None:
    tampered = insurer_a.token[:-2] + ("AA" if not insurer_a.token.endswith("AA") else "BB")
    response = client.get("/v1/members/1", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


@pytest.mark.parametrize("action", ["get", "history", "correct", "loss"])
def test_insurer_b_can_neither_read_nor_change_insurer_a_members(
    client: TestClient,
    writer: Writer,
    insurer_a: RegisteredInsurer,
    insurer_b: RegisteredInsurer,
    action: str,
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    if action == "get":
        response = client.get(path, headers=insurer_b.headers)
    elif action == "history":
        response = client.get(f"{path}/history", headers=insurer_b.headers)
    elif action == "correct":
        response = writer.patch(path, insurer_b, {"Name": "乗っ取り"})
    else:
        response = writer.post(
            f"{path}/loss", insurer_b, {"DisqualificationDate": "20240401", "ReasonOfLoss": "99"}
        )
    # Exactly what a qualification that does not exist answers: nothing leaks.
    assert response.status_code == 404
    assert error_code(response) == RegistryCode.QUALIFICATION_NOT_FOUND
    unchanged = client.get(path, headers=insurer_a.headers).json()
    assert unchanged == member


def test_insurer_b_search_does_not_find_insurer_a_members(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    register(writer, insurer_a, 1)
    response = client.post(
        "/v1/members/search", json={"MyNumber": my_number(1)}, headers=insurer_b.headers
    )
    assert response.json()["Members"] == []


def test_insurer_a_may_not_register_into_insurer_b(
    writer: Writer, insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    body = member_body(1, InsurerNumber=insurer_b.info.number.digits)
    response = writer.post("/v1/members", insurer_a, body)
    assert response.status_code == 422


# --- idempotent writes -----------------------------------------------------------------


def test_a_retried_registration_returns_the_first_answer_and_registers_once(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    first = writer.post("/v1/members", insurer_a, member_body(1), key="req-1")
    retry = writer.post("/v1/members", insurer_a, member_body(1), key="req-1")
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    found = client.post(
        "/v1/members/search", json={"MyNumber": my_number(1)}, headers=insurer_a.headers
    ).json()
    assert len(found["Members"]) == 1


def test_a_retried_correction_applies_once(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    member = register(writer, insurer_a)
    path = f"/v1/members/{member['QualificationId']}"
    for _ in range(3):
        response = writer.patch(path, insurer_a, {"Name": "山田　太朗", "Version": 1}, key="c-1")
        assert response.status_code == 200
        assert response.json()["Version"] == 2
    history = client.get(f"{path}/history", headers=insurer_a.headers).json()
    assert len(history["Changes"]) == 2


def test_the_same_key_with_another_body_is_409(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    writer.post("/v1/members", insurer_a, member_body(1), key="req-1")
    other = writer.post("/v1/members", insurer_a, member_body(2), key="req-1")
    assert other.status_code == 409
    assert error_code(other) == RegistryCode.IDEMPOTENCY_KEY_REUSED


def test_request_ids_are_per_insurer(
    writer: Writer, insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    assert writer.post("/v1/members", insurer_a, member_body(1), key="same").status_code == 201
    assert writer.post("/v1/members", insurer_b, member_body(2), key="same").status_code == 201


def test_a_failed_write_stores_nothing_so_its_retry_runs_again(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    bad = writer.post("/v1/members", insurer_a, member_body(1, Sex1="9"), key="req-9")
    assert bad.status_code == 422
    good = writer.post("/v1/members", insurer_a, member_body(1), key="req-9")
    assert good.status_code == 201


def test_writes_without_a_request_id_are_refused(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    response = client.post("/v1/members", json=member_body(1), headers=insurer_a.headers)
    assert response.status_code == 400
    assert error_code(response) == RegistryCode.IDEMPOTENCY_KEY_REQUIRED


def test_the_api_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/members", "/v1/members/{qualification_id}", "/v1/imports"} <= set(spec["paths"])
    assert "/network/v1/qualifications/by-person" in spec["paths"]
    assert spec["paths"]["/v1/imports"]["post"]["requestBody"]["content"]["text/csv"]


def test_concurrent_retries_register_once(client: TestClient, insurer_a: RegisteredInsurer) -> None:
    import threading

    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        headers = {**insurer_a.headers, "Idempotency-Key": "same-request"}
        answers.append(client.post("/v1/members", json=member_body(1), headers=headers))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.text for a in answers}) == 1
    found = client.post(
        "/v1/members/search", json={"MyNumber": my_number(1)}, headers=insurer_a.headers
    ).json()
    assert len(found["Members"]) == 1


def test_a_revoked_credential_is_refused_and_a_new_one_works(
    client: TestClient, sessions: Any, insurer_a: RegisteredInsurer
) -> None:
    from insurer_registry.db import transaction
    from insurer_registry.insurers.credentials import CredentialKind
    from insurer_registry.insurers.service import issue_credential, revoke_credentials

    with transaction(sessions) as session:
        assert revoke_credentials(session=session, insurer=insurer_a.info) == 1
        fresh = issue_credential(
            session=session, kind=CredentialKind.INSURER, label="rotated", insurer=insurer_a.info
        )
    old = client.post(
        "/v1/members/search", json={"Limit": 1, "Birthdate": "19800401"}, headers=insurer_a.headers
    )
    assert old.status_code == 401
    new = client.post(
        "/v1/members/search",
        json={"Limit": 1, "Birthdate": "19800401"},
        headers={"Authorization": f"Bearer {fresh.token}"},
    )
    assert new.status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_refused_unread(
    client: TestClient, insurer_a: RegisteredInsurer, chunked: bool
) -> None:
    body = b'{"Name": "' + b"A" * (MAX_REQUEST_BYTES + 1) + b'"}'
    content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    response = client.post(
        "/v1/members/search",
        content=content,
        headers={**insurer_a.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == RegistryCode.REQUEST_TOO_LARGE


def test_csv_imports_keep_their_own_larger_limit(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    """An upload over the JSON limit is not refused by it: the import counts its own."""
    header = b"InsurerNumber,MyNumber\n"
    body = header + b"x" * (MAX_REQUEST_BYTES + 1)
    response = client.post(
        "/v1/imports",
        content=body,
        headers={**insurer_a.headers, "Content-Type": "text/csv", "Idempotency-Key": "big-1"},
    )
    assert response.status_code != 413, response.text
