"""Expired-certificate grace: a physical card whose auth certificate expired answers a card
check for three more months, by the check's Japan date, qualification information only,
marked Q1007; then Q1003."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from sqlalchemy import select

from card_reader.issuance.residents import Resident
from onshi_kernel.japan_time import JST, japan_today
from qualification_server.contract.codes import CATALOGUE, Code
from qualification_server.models import AccessRecord
from qualification_server.trust.grace import CredentialKind, grace_last_day, months_after
from tests.support.world import PIN, World

pytestmark = pytest.mark.db

# Years ahead, so that the test CA (made as the session starts) was valid when the card's
# certificate expired: a certificate in grace is path-validated as of its notAfter.
YEAR = japan_today().year + 2
ALL_CONSENTS = {
    "limit_application": True, "specific_diseases": True, "medication": True,
    "health_checkups": True, "diagnosis": True, "operation": True,
}  # fmt: skip
VIEWING = ("PharmacistsInfo", "SpecificHealthCheckupsInfo", "DiagnosisInfo", "OperationInfo")


def jst(year: int, month: int, day: int, *hms: int) -> dt.datetime:
    return dt.datetime(year, month, day, *hms, tzinfo=JST).astimezone(dt.UTC)


# 23:59:59 on 31 January in Japan, as the issuer ends a certificate's day.
END_OF_JANUARY = jst(YEAR, 1, 31, 23, 59, 59)


def expired_card(world: World, residents: dict[str, Resident], not_after: dt.datetime) -> None:
    """yamada-taro registered while his first certificate was valid; his card now holds one
    ending at `not_after` (same person, new serial)."""
    world.register("yamada-taro")
    world.issuer.issue_card(residents["yamada-taro"], pin=PIN, overwrite=True,
                            not_after=not_after)  # fmt: skip


def result_of(answer: dict) -> dict:  # type: ignore[type-arg]
    (result,) = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    return result  # type: ignore[no-any-return]


def last_record(world: World) -> AccessRecord:
    with world.deps.sessions() as session:
        return session.scalars(select(AccessRecord).order_by(AccessRecord.id.desc())).first()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("day", "last"),
    [
        (dt.date(2027, 1, 31), dt.date(2027, 4, 30)),  # April has no 31st: its last day
        (dt.date(2027, 11, 30), dt.date(2028, 2, 29)),  # a leap year's February
        (dt.date(2026, 11, 29), dt.date(2027, 2, 28)),
        (dt.date(2027, 10, 15), dt.date(2028, 1, 15)),  # across the year
        (dt.date(2027, 3, 31), dt.date(2027, 6, 30)),
    ],
)
def test_three_months_is_the_same_day_three_calendar_months_on(day: dt.date, last: dt.date) -> None:
    assert months_after(day, 3) == last


def test_grace_goes_by_the_japan_date_of_the_expiry() -> None:
    card = CredentialKind.PHYSICAL_CARD
    assert grace_last_day(card, jst(2027, 1, 31, 23, 59, 59)) == dt.date(2027, 4, 30)
    # 15:00 UTC on the 31st is already 1 February in Japan
    assert grace_last_day(card, dt.datetime(2027, 1, 31, 15, tzinfo=dt.UTC)) == dt.date(2027, 5, 1)


def test_the_last_day_of_grace_answers_marked_q1007(
    world: World, residents: dict[str, Resident]
) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 4, 30, 23, 59, 58)
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    body = answer["MessageBody"]
    assert (body["ProcessingResultStatus"], body["QualificationValidity"]) == ("1", "1")
    assert body["ProcessingResultCode"] == "Q1007"
    assert body["ProcessingResultMessage"] == CATALOGUE[Code.ANSWERED_IN_GRACE].front_desk
    assert "市区町村" in body["ProcessingResultMessage"]
    assert result_of(answer)["InsuredIdentificationNumber"] == "1001"


def test_the_first_day_after_grace_is_q1003(world: World, residents: dict[str, Resident]) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 5, 1, 0, 0, 0)
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (403, "Q1003")


def test_an_expiry_just_after_midnight_in_japan_counts_from_the_japan_date(
    world: World, residents: dict[str, Resident]
) -> None:
    """15:00 UTC on 31 January is 00:00 on 1 February in Japan: grace runs through 1 May
    (by the UTC date it would have ended on 30 April)."""
    expired_card(world, residents, dt.datetime(YEAR, 1, 31, 15, tzinfo=dt.UTC))
    world.clock.now = jst(YEAR, 5, 1, 12, 0, 0)
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    assert answer["MessageBody"]["ProcessingResultCode"] == "Q1007"
    world.clock.now = jst(YEAR, 5, 2, 0, 0, 0)
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (403, "Q1003")


def test_in_grace_every_viewing_consent_is_refused_though_asked_for(
    world: World, residents: dict[str, Resident]
) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 1, 31, 12, 0, 0)  # still valid: the consents are answered
    status, answer = world.check("yamada-taro", ALL_CONSENTS)
    assert status == 200, answer
    valid = result_of(answer)
    assert all(valid[f"{part}ConsFlg"] == "1" for part in VIEWING)
    assert "ProcessingResultCode" not in answer["MessageBody"]  # the marker is grace's only
    world.clock.now = jst(YEAR, 2, 1, 9, 0, 0)
    status, answer = world.check("yamada-taro", ALL_CONSENTS)
    assert status == 200, answer
    graced = result_of(answer)
    for part in VIEWING:
        assert graced[f"{part}ConsFlg"] == "0"
        assert f"{part}ConsTime" not in graced
        assert f"{part}AvailableTime" not in graced


def test_in_grace_the_limit_certificate_is_still_answered_with_consent(
    world: World, residents: dict[str, Resident]
) -> None:
    """限度額 and 特定疾病 are qualification information: answered as consented [chosen]."""
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 3, 15, 10, 0, 0)
    status, answer = world.check("yamada-taro", ALL_CONSENTS)
    assert status == 200, answer
    result = result_of(answer)
    assert result["LimitApplicationCertificateRelatedConsFlg"] == "1"
    limit = result["LimitApplicationCertificateRelatedInfo"]
    assert limit["LimitApplicationCertificateClassificationFlag"] == "A03"
    assert result["SpecificDiseasesCertificateRelatedConsFlg"] == "1"
    status, answer = world.check("yamada-taro")
    assert "LimitApplicationCertificateRelatedInfo" not in result_of(answer)


def test_the_access_record_says_the_answer_was_given_in_grace(
    world: World, residents: dict[str, Resident]
) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 1, 31, 12, 0, 0)
    assert world.check("yamada-taro")[0] == 200
    assert "code" not in json.loads(last_record(world).answer)
    world.clock.now = jst(YEAR, 2, 10, 12, 0, 0)
    assert world.check("yamada-taro")[0] == 200
    record = json.loads(last_record(world).answer)
    assert (record["validity"], record["code"]) == ("1", "Q1007")


def test_a_revoked_certificate_in_grace_is_q1005(
    world: World, residents: dict[str, Resident]
) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    der = base64.b64decode(world.proof("yamada-taro", world.challenge())["certificate"])
    world.issuer.revoke(x509.load_der_x509_certificate(der).serial_number)
    world.clock.now = jst(YEAR, 2, 10, 12, 0, 0)
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (403, "Q1005")


def test_a_stale_crl_fails_closed_in_grace(world: World, residents: dict[str, Resident]) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.issuer.publish_crl([], world.clock.now, validity=dt.timedelta(days=30))
    world.clock.now = jst(YEAR, 2, 10, 12, 0, 0)
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (503, "Q1006")


def test_a_not_yet_valid_certificate_stays_q1004(
    world: World, residents: dict[str, Resident]
) -> None:
    world.register("yamada-taro")
    world.issuer.issue_card(residents["yamada-taro"], pin=PIN, overwrite=True,
                            not_before=jst(YEAR, 1, 1, 0, 0, 0))  # fmt: skip
    status, answer = world.check("yamada-taro")
    assert (status, answer["error"]["code"]) == (403, "Q1004")


def test_registration_takes_no_certificate_in_grace(
    world: World, residents: dict[str, Resident]
) -> None:
    """Grace is for the card check: registering (or the portal) needs a valid certificate."""
    world.issuer.issue_card(residents["yamada-taro"], pin=PIN, overwrite=True,
                            not_after=END_OF_JANUARY)  # fmt: skip
    world.clock.now = jst(YEAR, 2, 10, 12, 0, 0)
    proof = world.proof("yamada-taro", world.portal_challenge("registration"))
    response = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": True})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "Q1003")


def test_the_fhir_answer_in_grace_carries_the_mark(
    world: World, residents: dict[str, Resident]
) -> None:
    expired_card(world, residents, END_OF_JANUARY)
    world.clock.now = jst(YEAR, 2, 10, 12, 0, 0)
    challenge = world.challenge()
    proof = world.proof("yamada-taro", challenge)
    response = world.client.post(
        "/fhir/v1/eligibility/card",
        json={"challenge": challenge, "certificate": proof["certificate"],
              "proof": {"method": "pin", "signature": proof["signature"]},
              "consents": ALL_CONSENTS},
        headers=world.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    resource = response.json()
    message = CATALOGUE[Code.ANSWERED_IN_GRACE].front_desk
    assert resource["disposition"] == f"QualificationValidity 1; Q1007 {message}"
    assert resource["insurance"][0]["inforce"] is True
