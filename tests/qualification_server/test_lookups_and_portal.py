"""Lost qualifications, lookups without a card (個別照会, 一括照会), registration and the
person's view of who looked (portal)."""

from __future__ import annotations

import datetime as dt
import gc

import pytest
from sqlalchemy import func, select

from insurer_registry import db as registry_db
from insurer_registry.insurers.service import get_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import ReasonOfLoss
from insurer_registry.members.service import record_loss
from qualification_server.lookups import batches
from qualification_server.models import AccessRecord, Registration
from tests.support.world import KOKUHO, KYOKAI, OTHER_CLINIC, World

pytestmark = pytest.mark.db


def lose(world: World, qualification_id: int, insurer=KYOKAI) -> None:  # type: ignore[no-untyped-def]
    with registry_db.transaction(world.registry) as s:
        record_loss(
            session=s, insurer=get_insurer(session=s, number=insurer),
            qualification_id=qualification_id, loss_date=dt.date(2026, 1, 1),
            reason=ReasonOfLoss.DEATH, actor=Actor.operator("tests"),
        )  # fmt: skip


def test_lost_qualification(world: World) -> None:
    world.register("ito-mai")
    lose(world, world.qualification_ids["ito-mai"])
    status, answer = world.check("ito-mai")
    assert status == 200
    body = answer["MessageBody"]
    assert body["QualificationValidity"] == "2"
    (result,) = body["ResultList"]["ResultOfQualificationConfirmation"]
    assert result["DisqualificationDate"] == "20260101"
    assert result["ReasonOfLoss"] == "01"


def query(number: str, birth: str, insurer: str = KYOKAI.wire, **extra: str) -> dict[str, str]:
    return {
        "InsurerNumber": insurer,
        "InsuredIdentificationNumber": number,
        "InsuredBranchNumber": "00",
        "Birthdate": birth,
        **extra,
    }


def lookup(world: World, q: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = world.client.post(
        "/v1/eligibility/insured-number", json={"query": q}, headers=world.headers()
    )
    return response.status_code, response.json()


def test_insured_number_lookup(world: World) -> None:
    status, answer = lookup(world, query("1001", "19800401", InsuredCardSymbol="記号12"))
    assert status == 200, answer
    assert answer["MessageHeader"]["ReferenceClassification"] == "2"
    assert answer["MessageBody"]["QualificationValidity"] == "1"


def test_insured_number_lookup_with_a_wrong_birth_date(world: World) -> None:
    status, answer = lookup(world, query("1001", "19800402", InsuredCardSymbol="記号12"))
    assert (status, answer["error"]["code"]) == (404, "Q4001")
    unknown_status, unknown = lookup(world, query("9999", "19800401"))
    # the same answer as for a number nobody holds: no oracle for guessing birth dates
    assert (unknown_status, unknown["error"]) == (
        status,
        {**answer["error"], "request_id": unknown["error"]["request_id"]},
    )


def test_old_insured_number_says_a_newer_qualification_exists(world: World) -> None:
    status, answer = lookup(world, query("4001", "19750630", insurer=KOKUHO.wire))
    assert status == 200
    assert answer["MessageBody"]["QualificationValidity"] == "3"


@pytest.mark.parametrize("padded", ["  131011", "00131011", "131011"])
def test_national_health_numbers_arrive_padded(world: World, padded: str) -> None:
    assert KOKUHO.digits == "131011"
    status, answer = lookup(world, query("2002", "19921115", insurer=padded))
    assert status == 200, answer
    result = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"][0]
    assert result["InsurerNumber"] == "  131011"


def test_batch_lookup_counts_normal_and_error_units(world: World) -> None:
    entries = [
        query("1001", "19800401", InsuredCardSymbol="記号12"),
        query("2001", "19921115"),
        query("9999", "20000101"),
    ]
    status, answer, _ = batch(world, entries)
    assert status == 200, answer
    header = answer["MessageHeader"]
    assert (header["NumberOfProcessingResult"], header["NumberOfNormalProcessing"],
            header["NumberOfError"]) == (3, 2, 1)  # fmt: skip
    units = answer["BulkConfirmUnit"]
    assert [u["ProcessingResultStatus"] for u in units] == ["1", "1", "2"]
    assert units[2]["ProcessingResultCode"] == "Q4001"
    with world.deps.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AccessRecord)) == 3


def test_registration_needs_consent(world: World) -> None:
    proof = world.proof("ito-mai", world.portal_challenge("registration"))
    response = world.client.post(
        "/portal/v1/registrations", json={"proof": proof, "consent": False}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "Q2007")


def test_registration_at_a_clinic_reader(world: World) -> None:
    challenge = world.challenge("registration")
    response = world.client.post(
        "/v1/registrations",
        json={"proof": world.proof("ito-mai", challenge), "consent": True},
        headers=world.headers(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["insurers"] == ["全国健康保険協会 東京支部"]
    with world.deps.sessions() as s:
        assert s.get(Registration, s.scalars(select(Registration.person_ref)).one()) is not None
    assert world.check("ito-mai")[0] == 200


def test_registration_without_a_current_qualification_is_refused(world: World) -> None:
    proof = world.proof("tanaka-ichiro", world.portal_challenge("registration"))
    response = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": True})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "Q3003")


def test_a_check_challenge_cannot_register(world: World) -> None:
    proof = world.proof("ito-mai", world.portal_challenge("portal"))
    response = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": True})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "Q2004")


def test_unregister_stops_card_checks(world: World) -> None:
    world.register("yamada-taro")
    assert world.check("yamada-taro")[0] == 200
    proof = world.proof("yamada-taro", world.portal_challenge())
    response = world.client.post("/portal/v1/unregister", json={"proof": proof})
    assert response.json() == {"unregistered": True}
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (404, "Q3001")


def test_the_person_sees_who_looked(world: World) -> None:
    world.register("yamada-taro")
    world.check("yamada-taro")
    world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800401", InsuredCardSymbol="記号12")},
        headers=world.headers(world.other_clinic_token),
    )
    world.check("suzuki-hanako")  # someone else's lookup: not shown to yamada
    proof = world.proof("yamada-taro", world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    lookups = [(e["clinic_code"], e["method"]) for e in entries if e["clinic_code"]]
    assert lookups == [(OTHER_CLINIC, "insured-number"), ("1310000017", "pin")]
    assert entries[0]["clinic_name"] is None or isinstance(entries[0]["clinic_name"], str)
    assert any(e["clinic_name"] == "霞が関クリニック" for e in entries)


def test_portal_needs_the_card(world: World) -> None:
    proof = world.proof("yamada-taro", world.portal_challenge())
    proof["signature"] = world.proof("suzuki-hanako", proof["challenge"])["signature"]
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "Q2005")


def test_validation_errors_name_the_field_without_echoing_it(world: World) -> None:
    response = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": {**query("1001", "1980-04-01"), "InsuredBranchNumber": "0"}},
        headers=world.headers(),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "Q6001"
    assert "Birthdate" in error["detail"] and "1980-04-01" not in error["detail"]


def test_health_readiness_and_metrics(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    assert world.client.get("/readyz").json() == {"status": "ready"}
    world.client.get("/healthz")
    metrics = world.client.get("/metrics").text
    assert "onshi_requests_total" in metrics and 'route="/healthz"' in metrics


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_refused_unread(world: World, chunked: bool) -> None:
    size = world.deps.settings.max_request_bytes + 1
    body = b'{"challenge": "' + b"A" * size + b'"}'
    content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    response = world.client.post(
        "/v1/eligibility/card",
        content=content,
        headers={**world.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "Q6002"


def test_start_up_objects_are_kept_out_of_full_garbage_collections(world: World) -> None:
    """The app froze what start-up loaded, so a full collection does not walk it (a full
    pass over it stalled every request for tens of milliseconds)."""
    assert world.client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() > 10_000


def test_insured_number_lookups_are_rate_limited(world: World) -> None:
    """Guessing numbers and birth dates hits a wall: 429 with a retry hint."""
    limit = 3
    settings(world, insured_lookups_per_minute=limit)
    answers = [lookup(world, query("1001", f"1980040{day}"))[0] for day in range(1, limit + 2)]
    assert answers[:limit] == [404, 404, 404]
    response = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800401", InsuredCardSymbol="記号12")},
        headers=world.headers(),
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "Q4002"
    retry_after = int(response.headers["Retry-After"])  # the rest of this minute
    assert 1 <= retry_after <= 60
    world.clock.advance(retry_after)
    assert lookup(world, query("1001", "19800401", InsuredCardSymbol="記号12"))[0] == 200


def settings(world: World, **update: int) -> None:
    # Dependencies are frozen: swap in settings with low limits for a test
    object.__setattr__(world.deps, "settings", world.deps.settings.model_copy(update=update))


def batch(world: World, entries: list[dict[str, str]]) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    """Submit, let the server look the batch up, fetch: the result, or the submission's
    refusal."""
    response = world.client.post(
        "/v1/eligibility/batches", json={"entries": entries}, headers=world.headers()
    )
    if response.status_code != 202:
        return response.status_code, response.json(), dict(response.headers)
    batches.work(world.deps)
    number = response.json()["MessageHeader"]["ReceptionNumber"]
    result = world.client.get(f"/v1/eligibility/batches/{number}", headers=world.headers())
    return result.status_code, result.json(), dict(result.headers)


def test_unmatched_answers_stop_every_lookup_of_the_clinic_for_the_hour(world: World) -> None:
    """A guesser mostly misses: once the hour's misses are spent, even a right guess (or a
    real patient) gets 429 until the hour ends, and that clinic only."""
    settings(world, unmatched_lookups_per_hour=3)
    guesses = [lookup(world, query("1001", f"1980010{day}"))[0] for day in range(1, 4)]
    assert guesses == [404, 404, 404]
    response = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800401", InsuredCardSymbol="記号12")},
        headers=world.headers(),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (429, "Q4002")
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    other = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800401", InsuredCardSymbol="記号12")},
        headers=world.headers(world.other_clinic_token),
    )
    assert other.status_code == 200
    world.clock.advance(int(response.headers["Retry-After"]))
    assert lookup(world, query("1001", "19800401", InsuredCardSymbol="記号12"))[0] == 200


def test_a_batch_of_guesses_is_cut_off_at_the_hours_misses(world: World) -> None:
    settings(world, unmatched_lookups_per_hour=3)
    guesses = [query("1001", f"1980010{day}") for day in range(1, 7)]
    status, answer, _ = batch(world, guesses)
    assert status == 200
    codes = [u["ProcessingResultCode"] for u in answer["BulkConfirmUnit"]]
    assert codes == ["Q4001"] * 3 + ["Q4002"] * 3  # the last three were not even looked up
    with world.deps.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AccessRecord)) == 3
    status, answer, headers = batch(world, [query("1001", "19800401", InsuredCardSymbol="記号12")])
    assert (status, answer["error"]["code"]) == (429, "Q4002")
    assert 1 <= int(headers["retry-after"]) <= 3600


def test_batch_entries_have_a_daily_budget(world: World) -> None:
    settings(world, batch_entries_per_day=5)
    patient = query("1001", "19800401", InsuredCardSymbol="記号12")
    assert batch(world, [patient] * 3)[0] == 200
    status, answer, headers = batch(world, [patient] * 3)
    assert (status, answer["error"]["code"]) == (429, "Q4002")
    assert 1 <= int(headers["retry-after"]) <= 86400  # the rest of the day
    world.clock.advance(int(headers["retry-after"]))
    assert batch(world, [patient] * 3)[0] == 200
