"""一括照会 in two steps (OQS-IF-005..008): submit → ReceptionNumber at once → looked up in the
background → fetched, 処理中 until done. Nothing lost or doubled across a restart; the day's
budget spent once per entry; another clinic's number answered like an unknown one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from qualification_server.api.app import create_app
from qualification_server.lookups import batches
from qualification_server.models import AccessRecord, Batch, BatchEntry, LookupBudget
from tests.support.world import KOKUHO, KYOKAI, World

pytestmark = pytest.mark.db


def query(number: str, birth: str, insurer: str = KYOKAI.wire, **extra: str) -> dict[str, str]:
    """As receipt computers send it: no 枝番."""
    return {
        "InsurerNumber": insurer,
        "InsuredIdentificationNumber": number,
        "Birthdate": birth,
        **extra,
    }


ENTRIES = [
    query("1001", "19800401", InsuredCardSymbol="記号12"),
    query("2002", "19921115", insurer="00131011"),  # 国保, zero-padded to 8
    query("9999", "20000101"),
]


def submit(
    world: World, entries: list[dict[str, str]] = ENTRIES, key: str | None = None, **extra: Any
) -> tuple[int, dict[str, Any]]:
    headers = world.headers() | ({"Idempotency-Key": key} if key else {})
    response = world.client.post(
        "/v1/eligibility/batches", json={"entries": entries, **extra}, headers=headers
    )
    return response.status_code, response.json()


def fetch(world: World, number: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    response = world.client.get(f"/v1/eligibility/batches/{number}", headers=world.headers(token))
    return response.status_code, response.json()


def access_records(world: World) -> int:
    with world.deps.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AccessRecord)) or 0)


def test_a_submission_is_answered_at_once_with_a_reception_number(world: World) -> None:
    status, receipt = submit(world, arbitrary_file_identifier="appointments-1202")
    assert status == 202, receipt
    header = receipt["MessageHeader"]
    assert len(header["ReceptionNumber"]) == 16 and header["ReceptionNumber"].isdigit()
    assert header["NumberOfProcessingResult"] == 3
    assert header["MedicalInstitutionCode"] == "1310000017"
    assert header["ArbitraryFileIdentifier"] == "appointments-1202"
    assert access_records(world) == 0  # nothing is looked up yet


def test_a_fetch_before_the_batch_is_done_is_in_progress(world: World) -> None:
    _, receipt = submit(world)
    status, result = fetch(world, receipt["MessageHeader"]["ReceptionNumber"])
    assert status == 200, result
    header = result["MessageHeader"]
    assert header["SegmentOfResult"] == "2"
    assert (header["NumberOfProcessingResult"], header["NumberOfError"]) == (0, 0)
    assert "BulkConfirmUnit" not in result or result["BulkConfirmUnit"] == []


def test_the_result_holds_one_unit_per_entry_in_order(world: World) -> None:
    _, receipt = submit(world)
    number = receipt["MessageHeader"]["ReceptionNumber"]
    assert batches.work(world.deps) == 1
    status, result = fetch(world, number)
    assert status == 200, result
    header = result["MessageHeader"]
    assert header["SegmentOfResult"] == "1"
    assert header["ReceptionNumber"] == number
    assert (header["NumberOfProcessingResult"], header["NumberOfNormalProcessing"],
            header["NumberOfError"]) == (3, 2, 1)  # fmt: skip
    units = result["BulkConfirmUnit"]
    assert [u["QualificationConfirmSearchInfo"]["InsuredIdentificationNumber"] for u in units] == [
        "1001", "2002", "9999",
    ]  # fmt: skip
    assert [u["ProcessingResultStatus"] for u in units] == ["1", "1", "2"]
    assert [u["QualificationValidity"] for u in units] == ["1", "1", "4"]
    assert units[2]["ProcessingResultCode"] == "Q4001"
    (first,) = units[0]["ResultOfQualificationConfirmation"]
    assert first["InsuredIdentificationNumber"] == "1001"
    assert units[1]["ResultOfQualificationConfirmation"][0]["InsurerNumber"] == KOKUHO.wire
    assert access_records(world) == 3


def test_an_unknown_or_another_clinics_reception_number_is_q4004_alike(world: World) -> None:
    _, receipt = submit(world)
    number = receipt["MessageHeader"]["ReceptionNumber"]
    other_status, other = fetch(world, number, token=world.other_clinic_token)
    unknown_status, unknown = fetch(world, "0" * 16 if number != "0" * 16 else "1" * 16)
    assert (other_status, other["error"]["code"]) == (404, "Q4004")
    assert (unknown_status, unknown["error"]) == (
        404,
        {**other["error"], "request_id": unknown["error"]["request_id"]},
    )


def test_a_malformed_reception_number_is_q6001(world: World) -> None:
    status, answer = fetch(world, "12345")
    assert (status, answer["error"]["code"]) == (422, "Q6001")


def test_a_retried_submission_with_its_key_is_the_same_batch_counted_once(world: World) -> None:
    _, first = submit(world, key="rc-batch-0003")
    _, again = submit(world, key="rc-batch-0003")
    assert again == first
    with world.deps.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
        spent = s.scalar(select(LookupBudget.count).where(LookupBudget.budget == "batch-entries"))
    assert spent == 3
    status, reused = submit(world, ENTRIES[:1], key="rc-batch-0003")
    assert (status, reused["error"]["code"]) == (409, "Q4005")


def test_the_days_budget_is_spent_at_submission_once_per_entry(world: World) -> None:
    tight = world.deps.settings.model_copy(update={"batch_entries_per_day": 4})
    object.__setattr__(world.deps, "settings", tight)
    assert submit(world)[0] == 202
    batches.work(world.deps)  # looking them up counts nothing more
    status, answer = submit(world, ENTRIES[:2])
    assert (status, answer["error"]["code"]) == (429, "Q4002")
    assert submit(world, ENTRIES[:1])[0] == 202


def test_a_batch_cut_off_mid_way_is_finished_by_another_instance_without_doubles(
    world: World,
) -> None:
    entries = [query("1001", "19800401", InsuredCardSymbol="記号12")] * (batches.CHUNK + 5)
    _, receipt = submit(world, entries)
    number = receipt["MessageHeader"]["ReceptionNumber"]
    # The first instance takes the batch, looks up one chunk, and dies (its lease stands).
    batch_id = batches.claim(world.deps)
    assert batch_id is not None and batches.work_chunk(world.deps, batch_id)
    assert access_records(world) == batches.CHUNK
    # A restarted instance: a new app over the same database, its own worker
    restarted = dataclasses.replace(world.deps)
    with TestClient(create_app(restarted, seal_interval_s=None, batch_interval_s=None)) as client:
        assert batches.work(restarted) == 0  # the lease still holds: not taken twice
        with restarted.sessions() as s, s.begin():
            s.execute(update(Batch).values(lease_until=None))  # the lease ran out
        assert batches.work(restarted) == 1
        response = client.get(f"/v1/eligibility/batches/{number}", headers=world.headers())
    result = response.json()
    assert result["MessageHeader"]["SegmentOfResult"] == "1"
    assert len(result["BulkConfirmUnit"]) == len(entries)
    assert access_records(world) == len(entries)  # each entry recorded once


def test_queries_and_answers_are_sealed_at_rest(world: World) -> None:
    _, receipt = submit(world)
    batches.work(world.deps)
    with world.deps.sessions() as s:
        stored = b"".join(
            row.query_sealed + (row.unit_sealed or b"") for row in s.scalars(select(BatchEntry))
        )
    assert stored
    for plain in ("19800401", "山田", "1001", "記号12"):
        assert plain.encode() not in stored
    assert fetch(world, receipt["MessageHeader"]["ReceptionNumber"])[0] == 200


def test_done_batches_are_removed_after_the_retention_period(world: World) -> None:
    _, receipt = submit(world)
    batches.work(world.deps)
    assert batches.prune(world.deps) == 0
    world.clock.advance(world.deps.settings.batch_retention_hours * 3600 + 1)
    assert batches.prune(world.deps) == 1
    status, answer = fetch(world, receipt["MessageHeader"]["ReceptionNumber"])
    assert (status, answer["error"]["code"]) == (404, "Q4004")
    with world.deps.sessions() as s:
        assert s.scalar(select(func.count()).select_from(BatchEntry)) == 0


def test_a_batch_of_guesses_is_cut_off_at_the_hours_misses(world: World) -> None:
    tight = world.deps.settings.model_copy(update={"unmatched_lookups_per_hour": 2})
    object.__setattr__(world.deps, "settings", tight)
    guesses = [query(f"9{n:03d}", "20000101") for n in range(5)]
    _, receipt = submit(world, guesses)
    batches.work(world.deps)
    _, result = fetch(world, receipt["MessageHeader"]["ReceptionNumber"])
    codes = [u["ProcessingResultCode"] for u in result["BulkConfirmUnit"]]
    assert codes == ["Q4001", "Q4001", "Q4002", "Q4002", "Q4002"]
