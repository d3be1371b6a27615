"""個別照会 as real receipt computers send it: insurer number, 記号, 番号 and birth date, no
枝番. One holder of the card number born that day gets the answer; several (twins under one
card number) get QualificationValidity 5, each as its own result, and each sees the lookup in
their own record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from qualification_server.lookups import batches
from qualification_server.models import AccessRecord
from tests.support.families import TWIN_REFS, add_family
from tests.support.world import KYOKAI, World

pytestmark = pytest.mark.db


def query(number: str, birth: str, **extra: str) -> dict[str, str]:
    """What a receipt computer sends: no InsuredBranchNumber."""
    return {
        "InsurerNumber": KYOKAI.wire,
        "InsuredCardSymbol": "記号70",
        "InsuredIdentificationNumber": number,
        "Birthdate": birth,
        **extra,
    }


def lookup(world: World, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = world.client.post(
        "/v1/eligibility/insured-number", json={"query": q}, headers=world.headers()
    )
    return response.status_code, response.json()


def results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]  # type: ignore[no-any-return]


def test_a_card_number_without_branch_gets_the_answer_of_its_holder_born_that_day(
    world: World,
) -> None:
    add_family(world)
    status, answer = lookup(world, query("7001", "19800401"))
    assert status == 200, answer
    assert answer["MessageBody"]["QualificationValidity"] == "1"
    assert [r["InsuredBranchNumber"] for r in results(answer)] == ["00"]


def test_several_holders_born_that_day_get_5_with_each_as_its_own_result(world: World) -> None:
    add_family(world)
    status, answer = lookup(world, query("7001", "20150505"))
    assert status == 200, answer
    assert answer["MessageBody"]["QualificationValidity"] == "5"
    assert [r["InsuredBranchNumber"] for r in results(answer)] == ["01", "02"]
    with world.deps.sessions() as s:
        recorded = s.scalars(select(AccessRecord.person_ref).order_by(AccessRecord.id)).all()
    assert sorted(recorded) == sorted(TWIN_REFS)  # each twin sees this lookup


def test_the_branch_still_narrows_to_one(world: World) -> None:
    add_family(world)
    status, answer = lookup(world, query("7001", "20150505", InsuredBranchNumber="02"))
    assert status == 200, answer
    assert answer["MessageBody"]["QualificationValidity"] == "1"
    assert [r["InsuredBranchNumber"] for r in results(answer)] == ["02"]


def test_a_wrong_birth_date_without_branch_is_answered_as_an_unknown_number(
    world: World,
) -> None:
    add_family(world)
    status, answer = lookup(world, query("7001", "19800402"))
    assert (status, answer["error"]["code"]) == (404, "Q4001")
    unknown_status, unknown = lookup(world, query("7999", "19800401"))
    assert (unknown_status, unknown["error"]) == (
        status,
        {**answer["error"], "request_id": unknown["error"]["request_id"]},
    )


def test_misses_without_branch_spend_the_hours_unmatched_budget(world: World) -> None:
    add_family(world)
    # Dependencies are frozen: swap in settings with a low limit for this test
    low = world.deps.settings.model_copy(update={"unmatched_lookups_per_hour": 2})
    object.__setattr__(world.deps, "settings", low)
    for birth in ("19800402", "19800403"):
        assert lookup(world, query("7001", birth))[0] == 404
    status, answer = lookup(world, query("7001", "19800401"))
    assert (status, answer["error"]["code"]) == (429, "Q4002")


def test_a_batch_without_branches_answers_each_entry(world: World) -> None:
    add_family(world)
    entries = [query("7001", "19800401"), query("7001", "20150505"), query("7001", "19990101")]
    response = world.client.post(
        "/v1/eligibility/batches", json={"entries": entries}, headers=world.headers()
    )
    assert response.status_code == 202, response.text
    batches.work(world.deps)
    number = response.json()["MessageHeader"]["ReceptionNumber"]
    result = world.client.get(f"/v1/eligibility/batches/{number}", headers=world.headers())
    units = result.json()["BulkConfirmUnit"]
    assert [u["QualificationValidity"] for u in units] == ["1", "5", "4"]
    assert [len(u.get("ResultOfQualificationConfirmation", [])) for u in units] == [1, 2, 0]
    assert "InsuredBranchNumber" not in units[0]["QualificationConfirmSearchInfo"]
