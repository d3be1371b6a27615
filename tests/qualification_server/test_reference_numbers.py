"""照会番号登録 (OQS-IF-003/004, 009..012): a clinic registers its own number for a patient
named by insured number and birth date; its later answers about that person carry it as
`ReferenceNumber` (card check, 個別照会, 一括照会), another clinic's never do. A number names
one person: twins without 枝番 and a number another patient holds are refused; registering
again replaces the person's number. Every registration is in the person's access record."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select

from onshi_kernel.db import alembic_config
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from qualification_server.clinics.service import ClinicIdentity
from qualification_server.contract.reference_numbers import ReferenceNumberRequest
from qualification_server.db import MIGRATIONS, make_engine, migrate
from qualification_server.errors import QualificationError
from qualification_server.lookups import batches
from qualification_server.models import AccessRecord, ClinicReferenceNumber
from qualification_server.reference_numbers import service
from qualification_server.reference_numbers.service import METHOD
from tests.support.families import TWIN_REFS, add_family
from tests.support.world import CLINIC, KOKUHO, KYOKAI, OTHER_CLINIC, World

pytestmark = pytest.mark.db

YAMADA = {"InsurerNumber": KYOKAI.wire, "InsuredCardSymbol": "記号12",
          "InsuredIdentificationNumber": "1001", "Birthdate": "19800401"}  # fmt: skip
SUZUKI = {"InsurerNumber": KOKUHO.wire, "InsuredIdentificationNumber": "2002",
          "Birthdate": "19921115"}  # fmt: skip
TWINS = {"InsurerNumber": KYOKAI.wire, "InsuredCardSymbol": "記号70",
         "InsuredIdentificationNumber": "7001", "Birthdate": "20150505"}  # fmt: skip


def register(
    world: World, query: dict[str, str], number: str, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    response = world.client.post(
        "/v1/reference-numbers",
        json={"entry": {"QualificationConfirmSearchInfo": query, "ReferenceNumber": number}},
        headers=world.headers(token),
    )
    return response.status_code, response.json()


def register_batch(
    world: World, entries: list[tuple[dict[str, str], str]]
) -> tuple[int, dict[str, Any]]:
    body = {"entries": [{"QualificationConfirmSearchInfo": q, "ReferenceNumber": n}
                        for q, n in entries]}  # fmt: skip
    response = world.client.post("/v1/reference-numbers/batch", json=body, headers=world.headers())
    return response.status_code, response.json()


def lookup(
    world: World, query: dict[str, str], token: str | None = None
) -> tuple[int, dict[str, Any]]:
    response = world.client.post(
        "/v1/eligibility/insured-number", json={"query": query}, headers=world.headers(token)
    )
    return response.status_code, response.json()


def batch_units(
    world: World, entries: list[dict[str, str]], token: str | None = None
) -> list[dict[str, Any]]:
    """一括照会 in its two steps, the background step run here."""
    submitted = world.client.post(
        "/v1/eligibility/batches", json={"entries": entries}, headers=world.headers(token)
    )
    assert submitted.status_code == 202, submitted.text
    batches.work(world.deps)
    number = submitted.json()["MessageHeader"]["ReceptionNumber"]
    result = world.client.get(f"/v1/eligibility/batches/{number}", headers=world.headers(token))
    assert result.status_code == 200, result.text
    return result.json()["BulkConfirmUnit"]  # type: ignore[no-any-return]


def results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]  # type: ignore[no-any-return]


def numbers_in(answer: dict[str, Any]) -> list[str | None]:
    return [result.get("ReferenceNumber") for result in results(answer)]


def error_code(answer: dict[str, Any]) -> str:
    return str(answer["error"]["code"])


def error_texts(answer: dict[str, Any]) -> str:
    """What a refusal says (the request id aside, which is random)."""
    return " ".join(str(v) for k, v in answer["error"].items() if k != "request_id")


def ref(residents: dict[str, Any], label: str) -> str:
    return person_reference(residents[label].my_number, DEVELOPMENT_PSEUDONYM_KEY)


# --- registering, and the answers that carry it ----------------------------------------------


def test_a_registration_is_answered_with_the_number_and_the_query(world: World) -> None:
    status, answer = register(world, YAMADA, "000123")
    assert status == 200, answer
    header, body = answer["MessageHeader"], answer["MessageBody"]
    assert (header["MedicalInstitutionCode"], header["SegmentOfResult"]) == (CLINIC, "1")
    assert len(header["ProcessExecutionTime"]) == 14
    assert (body["ProcessingResultStatus"], body["ReferenceNumber"]) == ("1", "000123")
    assert body["QualificationConfirmSearchInfo"]["InsuredIdentificationNumber"] == "1001"
    assert "ReplacedReferenceNumber" not in body


def test_the_clinics_card_check_carries_its_number_on_every_result(world: World) -> None:
    world.register("suzuki-hanako")  # two valid qualifications: validity 5, two results
    assert register(world, SUZUKI, "P0042")[0] == 200
    status, answer = world.check("suzuki-hanako")
    assert status == 200, answer
    assert answer["MessageBody"]["QualificationValidity"] == "5"
    assert numbers_in(answer) == ["P0042", "P0042"]


def test_a_card_check_without_a_registered_number_carries_none(world: World) -> None:
    world.register("yamada-taro")
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    assert numbers_in(answer) == [None]


def test_the_clinics_lookup_carries_its_number(world: World) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    status, answer = lookup(world, YAMADA)
    assert status == 200, answer
    assert numbers_in(answer) == ["000123"]


def test_the_clinics_batch_carries_its_number_in_the_unit_and_its_results(world: World) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    units = batch_units(world, [YAMADA, SUZUKI])
    assert [u.get("ReferenceNumber") for u in units] == ["000123", None]
    assert [r.get("ReferenceNumber") for r in units[0]["ResultOfQualificationConfirmation"]] == [
        "000123"
    ]


def test_another_clinic_never_sees_the_number(world: World) -> None:
    world.register("yamada-taro")
    assert register(world, YAMADA, "000123")[0] == 200
    other = world.other_clinic_token
    status, answer = lookup(world, YAMADA, token=other)
    assert status == 200, answer
    assert numbers_in(answer) == [None]
    (unit,) = batch_units(world, [YAMADA], token=other)
    assert "ReferenceNumber" not in unit
    assert "ReferenceNumber" not in unit["ResultOfQualificationConfirmation"][0]
    challenge = world.challenge(token=other)
    proof = world.proof("yamada-taro", challenge)
    response = world.client.post(
        "/v1/eligibility/card",
        json={"challenge": challenge, "certificate": proof["certificate"],
              "proof": {"method": "pin", "signature": proof["signature"]}},
        headers=world.headers(other),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert numbers_in(response.json()) == [None]


def test_numbers_are_per_clinic_so_another_clinic_may_use_the_same_for_another_person(
    world: World,
) -> None:
    assert register(world, YAMADA, "1")[0] == 200
    assert register(world, SUZUKI, "1", token=world.other_clinic_token)[0] == 200
    assert numbers_in(lookup(world, YAMADA)[1]) == ["1"]
    assert numbers_in(lookup(world, SUZUKI, token=world.other_clinic_token)[1]) == ["1"]
    assert numbers_in(lookup(world, SUZUKI)[1]) == [None]


# --- one number, one person ------------------------------------------------------------------


def test_twins_without_branch_are_refused_and_nothing_is_registered(world: World) -> None:
    add_family(world)
    status, answer = register(world, TWINS, "T1")
    assert (status, error_code(answer)) == (409, "Q4006")
    assert "T1" not in error_texts(answer)
    with world.deps.sessions() as s:
        assert s.scalars(select(ClinicReferenceNumber)).all() == []


def test_twins_registered_with_their_branches_each_carry_their_own(world: World) -> None:
    add_family(world)
    assert register(world, {**TWINS, "InsuredBranchNumber": "01"}, "T1")[0] == 200
    assert register(world, {**TWINS, "InsuredBranchNumber": "02"}, "T2")[0] == 200
    status, answer = lookup(world, TWINS)  # both match without 枝番: validity 5
    assert status == 200, answer
    assert [r["InsuredBranchNumber"] for r in results(answer)] == ["01", "02"]
    assert numbers_in(answer) == ["T1", "T2"]
    (unit,) = batch_units(world, [TWINS])  # two persons: the unit names neither's number
    assert "ReferenceNumber" not in unit
    assert [r["ReferenceNumber"] for r in unit["ResultOfQualificationConfirmation"]] == [
        "T1", "T2",
    ]  # fmt: skip
    with world.deps.sessions() as s:
        stored = dict(
            s.execute(
                select(ClinicReferenceNumber.person_ref, ClinicReferenceNumber.reference_number)
            ).all()
        )
    assert stored == {TWIN_REFS[0]: "T1", TWIN_REFS[1]: "T2"}


def test_a_number_another_person_holds_is_refused_and_nothing_changes(world: World) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    status, answer = register(world, SUZUKI, "000123")
    assert (status, error_code(answer)) == (409, "Q4007")
    assert "000123" not in error_texts(answer)
    assert numbers_in(lookup(world, YAMADA)[1]) == ["000123"]
    assert numbers_in(lookup(world, SUZUKI)[1]) == [None]


def test_registering_again_replaces_the_persons_number_and_says_so(world: World) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    status, answer = register(world, YAMADA, "000456")
    assert status == 200, answer
    assert answer["MessageBody"]["ReplacedReferenceNumber"] == "000123"
    assert numbers_in(lookup(world, YAMADA)[1]) == ["000456"]
    assert register(world, SUZUKI, "000123")[0] == 200  # the old number is free again


def test_the_same_number_again_replaces_nothing(world: World) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    status, answer = register(world, YAMADA, "000123")
    assert status == 200, answer
    assert "ReplacedReferenceNumber" not in answer["MessageBody"]


def test_a_wrong_birth_date_is_q4001_as_in_a_lookup_and_spends_a_miss(world: World) -> None:
    low = world.deps.settings.model_copy(update={"unmatched_lookups_per_hour": 1})
    object.__setattr__(world.deps, "settings", low)
    status, answer = register(world, {**YAMADA, "Birthdate": "19800402"}, "000123")
    assert (status, error_code(answer)) == (404, "Q4001")
    status, answer = register(world, YAMADA, "000123")  # the hour's misses are spent
    assert (status, error_code(answer)) == (429, "Q4002")


@pytest.mark.parametrize("number", ["", "12-34", "１２３", "A" * 21])
def test_a_malformed_number_is_q6001_naming_the_field_not_the_value(
    world: World, number: str
) -> None:
    status, answer = register(world, YAMADA, number)
    assert (status, error_code(answer)) == (422, "Q6001")
    assert "ReferenceNumber" in answer["error"]["detail"]
    if number:
        assert number not in answer["error"]["detail"]


def test_of_two_persons_registered_at_once_under_one_number_exactly_one_gets_it(
    world: World,
) -> None:
    """Both see the number free; the unique row decides, and the loser is told Q4007."""
    requests = [
        ReferenceNumberRequest.model_validate(
            {"entry": {"QualificationConfirmSearchInfo": query, "ReferenceNumber": "000123"}}
        )
        for query in (YAMADA, SUZUKI) * 4
    ]
    clinic = ClinicIdentity(id=1, code=CLINIC, name="霞が関クリニック")

    def attempt(request: ReferenceNumberRequest) -> str:
        try:
            service.register(world.deps, clinic=clinic, request=request)
        except QualificationError as error:
            return error.code.value
        return "registered"

    with ThreadPoolExecutor(len(requests)) as pool:
        outcomes = list(pool.map(attempt, requests))
    yamada, suzuki = set(outcomes[0::2]), set(outcomes[1::2])
    assert {frozenset(yamada), frozenset(suzuki)} == {
        frozenset({"registered"}), frozenset({"Q4007"}),
    }  # fmt: skip
    winner, loser = (YAMADA, SUZUKI) if yamada == {"registered"} else (SUZUKI, YAMADA)
    assert numbers_in(lookup(world, winner)[1]) == ["000123"]
    assert numbers_in(lookup(world, loser)[1]) == [None]


# --- the access log --------------------------------------------------------------------------


def test_every_registration_is_recorded_in_the_persons_record(
    world: World, residents: dict[str, Any]
) -> None:
    assert register(world, YAMADA, "000123")[0] == 200
    assert register(world, YAMADA, "000456")[0] == 200
    assert register(world, SUZUKI, "000456")[0] == 409
    with world.deps.sessions() as s:
        records = s.scalars(select(AccessRecord).order_by(AccessRecord.id)).all()
    assert [(r.clinic_code, r.person_ref, r.method) for r in records] == [
        (CLINIC, ref(residents, "yamada-taro"), METHOD),
        (CLINIC, ref(residents, "yamada-taro"), METHOD),
        (CLINIC, ref(residents, "suzuki-hanako"), METHOD),
    ]
    assert '"ReferenceNumber": "000456"' in records[1].request
    assert '"replaced": "000123"' in records[1].answer
    assert '"Q4007"' in records[2].answer
    for record in records:  # what a lookup's record keeps: never the birth date or a name
        for secret in ("19800401", "19921115", residents["yamada-taro"].name):
            assert secret not in record.request + record.answer


def test_the_person_sees_which_clinic_registered_a_number(world: World) -> None:
    world.register("yamada-taro")
    assert register(world, YAMADA, "000123", token=world.other_clinic_token)[0] == 200
    proof = world.proof("yamada-taro", world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    shown = [(e["clinic_code"], e["method"]) for e in response.json()["entries"]]
    assert (OTHER_CLINIC, METHOD) in shown


def test_a_refusal_without_a_person_is_recorded_without_one(world: World) -> None:
    add_family(world)
    register(world, TWINS, "T1")
    register(world, {**YAMADA, "Birthdate": "19800402"}, "000123")
    with world.deps.sessions() as s:
        records = s.execute(select(AccessRecord.person_ref, AccessRecord.answer)).all()
    assert [(person, answer) for person, answer in records] == [
        (None, '{"error": "Q4006"}'),
        (None, '{"error": "Q4001"}'),
    ]


# --- in bulk ---------------------------------------------------------------------------------


def test_a_bulk_registration_answers_each_entry_on_its_own_in_order(world: World) -> None:
    add_family(world)
    status, answer = register_batch(world, [
        (YAMADA, "000123"),
        ({**YAMADA, "Birthdate": "19800402"}, "000124"),  # no such holder
        (TWINS, "T1"),  # twins without 枝番
        (SUZUKI, "000123"),  # yamada's, just registered
        (YAMADA, "000125"),  # replaces the first entry's number
    ])  # fmt: skip
    assert status == 200, answer
    header = answer["MessageHeader"]
    assert header["MedicalInstitutionCode"] == CLINIC
    assert (header["NumberOfProcessingResult"], header["NumberOfNormalProcessing"],
            header["NumberOfError"]) == (5, 2, 3)  # fmt: skip
    units = answer["BulkRegistrationUnit"]
    assert [u["ProcessingResultStatus"] for u in units] == ["1", "2", "2", "2", "1"]
    assert [u.get("ProcessingResultCode") for u in units] == [
        None, "Q4001", "Q4006", "Q4007", None,
    ]  # fmt: skip
    assert all(u["ProcessingResultMessage"] for u in units[1:4])
    assert [u["ReferenceNumber"] for u in units] == ["000123", "000124", "T1", "000123", "000125"]
    assert units[4]["ReplacedReferenceNumber"] == "000123"
    assert numbers_in(lookup(world, YAMADA)[1]) == ["000125"]
    assert numbers_in(lookup(world, SUZUKI)[1]) == [None]


def test_a_bulk_registration_larger_than_a_batch_is_q4003(world: World) -> None:
    small = world.deps.settings.model_copy(update={"batch_max_entries": 2})
    object.__setattr__(world.deps, "settings", small)
    status, answer = register_batch(world, [(YAMADA, "1"), (SUZUKI, "2"), (YAMADA, "3")])
    assert (status, error_code(answer)) == (413, "Q4003")


def test_a_bulk_of_guesses_is_cut_off_at_the_hours_misses(world: World) -> None:
    low = world.deps.settings.model_copy(update={"unmatched_lookups_per_hour": 2})
    object.__setattr__(world.deps, "settings", low)
    guesses = [({**YAMADA, "Birthdate": f"1980010{day}"}, f"G{day}") for day in range(1, 5)]
    status, answer = register_batch(world, [*guesses, (YAMADA, "000123")])
    assert status == 200, answer
    codes = [u.get("ProcessingResultCode") for u in answer["BulkRegistrationUnit"]]
    assert codes == ["Q4001", "Q4001", "Q4002", "Q4002", "Q4002"]


# --- the migration ---------------------------------------------------------------------------


def test_migration_0007_goes_down_and_up(database_factory: Any) -> None:
    engine = make_engine(database_factory("reference_numbers"))
    try:
        migrate(engine)
        command.downgrade(alembic_config(engine, MIGRATIONS), "0006")
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
        assert "reference_numbers" not in tables and "batches" in tables
        migrate(engine)
        with engine.connect() as connection:
            inspector = inspect(connection)
            assert inspector.get_pk_constraint("reference_numbers")["constrained_columns"] == [
                "clinic_code", "person_ref",
            ]  # fmt: skip
            uniques = inspector.get_unique_constraints("reference_numbers")
        assert [u["column_names"] for u in uniques] == [["clinic_code", "reference_number"]]
    finally:
        engine.dispose()
