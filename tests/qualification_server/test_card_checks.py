"""Card checks end to end: challenge, certificate, proof of presence, answer, record."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from sqlalchemy import delete, select, update

from card_reader.issuance.issuer import Issuer
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.access_log import log as access_log
from qualification_server.cards import check as checks
from qualification_server.cards.proofs import Method, device_message
from qualification_server.clinics.service import ClinicAuthenticator
from qualification_server.contract.schemas import CardCheckRequest
from qualification_server.errors import QualificationError
from qualification_server.models import AccessRecord
from tests.support.world import CLINIC, KYOKAI, PIN, World, sign_with_card

pytestmark = pytest.mark.db


def card_body(world: World, label: str, challenge: str, **extra: object) -> dict[str, object]:
    proof = world.proof(label, challenge)
    return {
        "challenge": challenge,
        "certificate": proof["certificate"],
        "proof": {"method": "pin", "signature": proof["signature"]},
        **extra,
    }


def post_card(world: World, body: dict[str, object], token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = world.client.post("/v1/eligibility/card", json=body, headers=world.headers(token))
    return response.status_code, response.json()


def error_code(payload: dict) -> str:  # type: ignore[type-arg]
    return str(payload["error"]["code"])


def test_valid_pin_mode_answers_with_spec_fields(world: World) -> None:
    world.register("yamada-taro")
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    header, body = answer["MessageHeader"], answer["MessageBody"]
    assert header["MedicalInstitutionCode"] == CLINIC
    assert header["ReferenceClassification"] == "1"
    assert len(header["ProcessExecutionTime"]) == 14
    assert body["ProcessingResultStatus"] == "1"
    assert body["QualificationValidity"] == "1"
    (result,) = body["ResultList"]["ResultOfQualificationConfirmation"]
    assert result["InsurerNumber"] == KYOKAI.wire
    assert result["InsuredCardSymbol"] == "記号12"
    assert result["InsuredIdentificationNumber"] == "1001"
    assert result["InsuredBranchNumber"] == "00"
    assert result["InsuredPartialContributionRatio"] == "030"
    assert result["Name"] == "山田 太郎"
    assert result["Birthdate"] == "19800401"
    assert result["Sex1"] == "1"
    assert result["InsurerName"] == "全国健康保険協会 東京支部"
    assert result["QualificationDate"] == "20100401"
    assert "DisqualificationDate" not in result  # absent, never null


def test_consent_withheld_hides_the_limit_certificate(world: World) -> None:
    world.register("yamada-taro")
    _, answer = world.check("yamada-taro")
    result = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"][0]
    assert result["LimitApplicationCertificateRelatedConsFlg"] == "0"
    assert "LimitApplicationCertificateRelatedInfo" not in result
    assert result["PharmacistsInfoConsFlg"] == "0"
    assert "PharmacistsInfoConsTime" not in result


def test_consent_given_shows_the_limit_certificate(world: World) -> None:
    world.register("yamada-taro")
    _, answer = world.check("yamada-taro", {"limit_application": True, "medication": True})
    result = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"][0]
    assert result["LimitApplicationCertificateRelatedConsFlg"] == "1"
    info = result["LimitApplicationCertificateRelatedInfo"]
    assert info["LimitApplicationCertificateClassification"] == "01"
    assert info["LimitApplicationCertificateClassificationFlag"] == "A03"
    assert result["PharmacistsInfoConsFlg"] == "1"
    assert len(result["PharmacistsInfoConsTime"]) == 14


def test_face_mode_with_the_clinics_device(world: World) -> None:
    world.register("yamada-taro")
    body = world.face_body("yamada-taro")
    status, answer = post_card(world, body)
    assert status == 200, answer
    with world.deps.sessions() as s:
        last = s.scalars(select(AccessRecord).order_by(AccessRecord.id.desc())).first()
    assert last is not None and last.method == "face"


def test_face_proof_for_another_method_is_refused(world: World) -> None:
    world.register("yamada-taro")
    challenge = world.challenge()
    cert_b64, _ = sign_with_card(world.card("yamada-taro"), challenge)
    visual = device_message(base64.b64decode(challenge), base64.b64decode(cert_b64), Method.VISUAL)
    body = {
        "challenge": challenge,
        "certificate": cert_b64,
        "proof": {"method": "face", "device_id": "face-1",
                  "signature": base64.b64encode(world.device_key.sign(visual)).decode()},
    }  # fmt: skip
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q2005")


def test_unknown_device_is_refused(world: World) -> None:
    world.register("yamada-taro")
    challenge = world.challenge()
    cert_b64, _ = sign_with_card(world.card("yamada-taro"), challenge)
    body = {"challenge": challenge, "certificate": cert_b64,
            "proof": {"method": "face", "device_id": "stolen", "signature": "AAAA"}}  # fmt: skip
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q2006")


def test_expired_certificate(world: World, residents: dict) -> None:  # type: ignore[type-arg]
    world.issuer.issue_card(
        residents["yamada-taro"], pin=PIN, overwrite=True,
        not_before=dt.datetime(2015, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    status, answer = post_card(world, card_body(world, "yamada-taro", world.challenge()))
    assert (status, error_code(answer)) == (403, "Q1003")
    assert answer["error"]["message"].startswith("カードの電子証明書の有効期限")


def test_revoked_certificate(world: World) -> None:
    world.register("yamada-taro")
    der = base64.b64decode(world.proof("yamada-taro", world.challenge())["certificate"])
    world.issuer.revoke(x509.load_der_x509_certificate(der).serial_number)
    status, answer = post_card(world, card_body(world, "yamada-taro", world.challenge()))
    assert (status, error_code(answer)) == (403, "Q1005")


def test_untrusted_ca(world: World, residents: dict, tmp_path) -> None:  # type: ignore[no-untyped-def, type-arg]
    rogue = Issuer.open(tmp_path / "rogue", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    path, _ = rogue.issue_card(residents["yamada-taro"], pin=PIN)
    challenge = world.challenge()
    cert, signature = sign_with_card(path, challenge)
    body = {"challenge": challenge, "certificate": cert,
            "proof": {"method": "pin", "signature": signature}}  # fmt: skip
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q1002")
    # untrusted whatever its dates say: an hour earlier it is not yet valid, still Q1002
    world.clock.advance(-3600)
    challenge = world.challenge()
    cert, signature = sign_with_card(path, challenge)
    body = {"challenge": challenge, "certificate": cert,
            "proof": {"method": "pin", "signature": signature}}  # fmt: skip
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q1002")


def test_forged_signature(world: World) -> None:
    world.register("yamada-taro")
    challenge = world.challenge()
    body = card_body(world, "yamada-taro", challenge)
    # a signature from another card over the same challenge
    _, other = sign_with_card(world.card("suzuki-hanako"), challenge)
    body["proof"] = {"method": "pin", "signature": other}
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q2005")


def test_replayed_challenge(world: World) -> None:
    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge())
    assert post_card(world, body)[0] == 200
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (409, "Q2003")


def test_concurrent_replays_answer_once(world: World) -> None:
    """Eight checks present one challenge at the same moment: one answer, seven refusals,
    one answered record (the used-challenge row's unique key decides, not a lock)."""
    world.register("yamada-taro")
    request = CardCheckRequest.model_validate(card_body(world, "yamada-taro", world.challenge()))
    clinic = ClinicAuthenticator(world.deps.sessions).authenticate(world.clinic_token)

    async def attempt() -> str:
        try:
            await checks.card_check(world.deps, clinic=clinic, request=request)
        except QualificationError as error:
            return error.code.value
        return "answered"

    async def at_once() -> list[str]:
        return list(await asyncio.gather(*(attempt() for _ in range(8))))

    # a loop of its own, in a thread: other tests (the browser's) may keep one running here
    with ThreadPoolExecutor(1) as thread:
        outcomes = sorted(thread.submit(asyncio.run, at_once()).result())
    assert outcomes == ["Q2003"] * 7 + ["answered"]
    with world.deps.sessions() as s:
        answers = s.scalars(
            select(AccessRecord.answer)
            .where(AccessRecord.method == "pin")
            .order_by(AccessRecord.id)
        ).all()
    assert sum('"validity"' in answer for answer in answers) == 1
    assert sum('"Q2003"' in answer for answer in answers) == 7


def test_a_refused_checks_challenge_is_used_up(world: World) -> None:
    """A challenge answers one attempt, whatever its outcome: after "not registered", the
    same signed challenge cannot be presented again once the person registers."""
    body = card_body(world, "yamada-taro", world.challenge())
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (404, "Q3001")
    world.register("yamada-taro")
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (409, "Q2003")


def _flip_last_byte(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_a_challenge_refused_for_its_signature_is_used_up(world: World) -> None:
    """A refusal spends the challenge too: the same challenge, signed right, is a replay."""
    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge())
    forged = {
        **body,
        "proof": {"method": "pin", "signature": _flip_last_byte(str(body["proof"]["signature"]))},
    }  # type: ignore[index]
    status, answer = post_card(world, forged)
    assert (status, error_code(answer)) == (403, "Q2005")
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (409, "Q2003")


def test_a_challenge_refused_for_an_unknown_device_is_used_up(world: World) -> None:
    world.register("yamada-taro")
    body = world.face_body("yamada-taro", device_id="face-unknown")
    status, answer = post_card(world, body)
    assert error_code(answer) == "Q2006", answer
    status, answer = post_card(world, {**body, "proof": {**body["proof"], "device_id": "face-1"}})
    assert (status, error_code(answer)) == (409, "Q2003")


def test_a_challenge_refused_for_its_certificate_is_used_up(world: World) -> None:
    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge())
    other = card_body(world, "suzuki-hanako", world.challenge())
    status, answer = post_card(world, {**body, "certificate": other["certificate"]})
    assert error_code(answer) == "Q2005", answer  # a certificate the signature is not of
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (409, "Q2003")


def test_a_registration_refused_for_missing_consent_uses_up_its_challenge(world: World) -> None:
    proof = world.proof("yamada-taro", world.portal_challenge("registration"))
    refused = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": False})
    assert refused.json()["error"]["code"] == "Q2007"
    again = world.client.post("/portal/v1/registrations", json={"proof": proof, "consent": True})
    assert again.json()["error"]["code"] == "Q2003"


def test_a_portal_login_refused_for_its_signature_uses_up_its_challenge(world: World) -> None:
    world.register("yamada-taro")
    proof = world.proof("yamada-taro", world.portal_challenge())
    forged = {**proof, "signature": _flip_last_byte(proof["signature"])}
    refused = world.client.post("/portal/v1/access-history", json={"proof": forged})
    assert refused.json()["error"]["code"] == "Q2005"
    again = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert again.json()["error"]["code"] == "Q2003"


def test_expired_challenge(world: World) -> None:
    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge())
    world.clock.advance(world.deps.settings.challenge_ttl_s + 1)
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (400, "Q2002")


def test_challenge_of_another_clinic(world: World) -> None:
    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge(token=world.other_clinic_token))
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (403, "Q2004")


def test_tampered_challenge(world: World) -> None:
    challenge = bytearray(base64.b64decode(world.challenge()))
    challenge[20] ^= 1
    body = card_body(world, "yamada-taro", base64.b64encode(bytes(challenge)).decode())
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (400, "Q2001")


def test_unlinked_card(world: World) -> None:
    status, answer = world.check("ito-mai")
    assert (status, error_code(answer)) == (404, "Q3001")
    assert "登録" in answer["error"]["message"]


def test_job_change_answers_with_the_new_insurer(world: World) -> None:
    world.register("kobayashi-ken")  # registration needs a current qualification
    status, answer = world.check("kobayashi-ken")
    assert status == 200
    assert answer["MessageBody"]["QualificationValidity"] == "1"  # the new one
    results = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    assert [r["InsuredIdentificationNumber"] for r in results] == ["4002"]


def test_several_qualifications(world: World) -> None:
    world.register("suzuki-hanako")
    status, answer = world.check("suzuki-hanako")
    assert status == 200
    assert answer["MessageBody"]["QualificationValidity"] == "5"
    results = answer["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    assert {r["InsuredIdentificationNumber"] for r in results} == {"2001", "2002"}


def test_renewed_certificate_keeps_working(world: World) -> None:
    world.register("yamada-taro")
    world.issuer.renew(world.card("yamada-taro"))
    world.clock.now = dt.datetime.now(dt.UTC)  # the new certificate starts now
    status, answer = world.check("yamada-taro")
    assert status == 200, answer
    assert answer["MessageBody"]["QualificationValidity"] == "1"


def test_unregistered_clinic(world: World) -> None:
    body = card_body(world, "yamada-taro", world.challenge())
    status, answer = post_card(world, body, token="9999999999.nope")
    assert (status, error_code(answer)) == (401, "Q5001")
    response = world.client.post("/v1/challenges", json={})
    assert response.status_code == 401


def test_stale_crl_fails_closed(world: World) -> None:
    world.register("yamada-taro")
    world.issuer.publish_crl([], world.clock.now, validity=dt.timedelta(hours=1))
    world.clock.advance(3601)
    status, answer = world.check("yamada-taro")
    assert (status, error_code(answer)) == (503, "Q1006")
    assert "stale" in answer["error"]["detail"]


@pytest.mark.parametrize("damage", ["removed", "emptied"])
def test_missing_crl_fails_closed(world: World, damage: str) -> None:
    """The CRL file gone (or cut to nothing) while the server runs: no check is answered
    until it is back, and the front desk is told why."""
    world.register("yamada-taro")
    assert world.check("yamada-taro")[0] == 200
    saved = world.issuer.crl_path.read_bytes()
    if damage == "removed":
        world.issuer.crl_path.unlink()
    else:
        world.issuer.crl_path.write_bytes(b"")
    status, answer = world.check("yamada-taro")
    assert (status, error_code(answer)) == (503, "Q1006")
    assert "CRL" in answer["error"]["detail"]
    world.issuer.crl_path.write_bytes(saved)
    assert world.check("yamada-taro")[0] == 200


def test_every_check_is_recorded_and_the_chain_detects_an_edit(world: World) -> None:
    world.register("yamada-taro")
    world.check("yamada-taro")
    world.check("ito-mai")  # refused: recorded too
    with world.deps.sessions() as s, s.begin():
        assert access_log.seal(s) == 3  # the registration and the two checks
    with world.deps.sessions() as s:
        records = s.scalars(select(AccessRecord).order_by(AccessRecord.chain_pos)).all()
        assert [r.method for r in records] == ["registration", "pin", "pin"]
        assert '"Q3001"' in records[-1].answer
        assert access_log.verify_chain(s) is None
    with world.deps.sessions() as s, s.begin():
        s.execute(
            update(AccessRecord).where(AccessRecord.chain_pos == 2).values(clinic_code="0000000000")
        )
    with world.deps.sessions() as s:
        broken = access_log.verify_chain(s)
    assert broken is not None and broken.pos == 2 and "changed" in broken.reason


def test_the_chain_detects_a_removed_record(world: World) -> None:
    world.register("yamada-taro")
    world.check("yamada-taro")
    world.check("yamada-taro")
    with world.deps.sessions() as s, s.begin():
        access_log.seal(s)
    with world.deps.sessions() as s, s.begin():
        s.execute(delete(AccessRecord).where(AccessRecord.chain_pos == 3))
    with world.deps.sessions() as s:
        broken = access_log.verify_chain(s)
    assert broken is not None and broken.pos == 3


def test_records_never_hold_names_or_birth_dates(world: World, residents: dict) -> None:  # type: ignore[type-arg]
    world.register("yamada-taro")
    world.check("yamada-taro", {"limit_application": True})
    with world.deps.sessions() as s:
        text = " ".join(r.request + r.answer for r in s.scalars(select(AccessRecord)))
    person = residents["yamada-taro"]
    for secret in (person.name, person.my_number, "19800401", person.address):
        assert secret not in text


def test_spent_challenges_are_forgotten_once_expired_by_the_databases_clock(
    world: World,
) -> None:
    from qualification_server.access_log.housekeeping import prune_used_challenges
    from qualification_server.models import UsedChallenge

    real = dt.datetime.now(dt.UTC)
    with world.deps.sessions() as s, s.begin():
        for name, expires in (
            ("expired-long-ago", real - dt.timedelta(minutes=5)),
            ("expired-in-grace", real - dt.timedelta(seconds=20)),
            ("alive", real + dt.timedelta(minutes=1)),
        ):
            s.add(UsedChallenge(challenge_id=name, expires_at=expires))
    with world.deps.sessions() as s, s.begin():
        removed = prune_used_challenges(s)
        left = set(s.scalars(select(UsedChallenge.challenge_id)))
    if world.deps.settings.database_url.startswith("postgresql"):
        # by day's partition there (docs/partitions.md): today's rows go with their day
        assert (removed, left) == (0, {"expired-long-ago", "expired-in-grace", "alive"})
    else:
        assert (removed, left) == (1, {"expired-in-grace", "alive"})


def test_an_instance_whose_clock_runs_fast_prunes_nothing_still_presentable(
    world: World,
) -> None:
    """Two instances on one database, one 15 minutes fast: its upkeep must not forget a
    used challenge that the other instance could still be shown (a second answer)."""
    from qualification_server.access_log.housekeeping import Housekeeper

    world.register("yamada-taro")
    body = card_body(world, "yamada-taro", world.challenge())
    status, _ = post_card(world, body)
    assert status == 200
    fast = Housekeeper(world.deps.sessions)  # its clock is not asked: there is none to ask
    world.clock.advance(15 * 60)
    fast.prune_now()
    world.clock.advance(-15 * 60)
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (409, "Q2003")


@pytest.mark.parametrize(("seconds", "outcome"), [(-30, "expired"), (30, "answered")])
def test_the_record_goes_by_the_databases_clock_not_the_instances(
    world: World,
    residents: dict,
    seconds: int,
    outcome: str,  # type: ignore[type-arg]
) -> None:
    """An instance whose clock runs slow still thinks a challenge alive; the database's
    clock, which every instance and the pruning of used challenges share, decides."""
    from onshi_kernel.mynumber import person_reference
    from qualification_server.cards.check_record import Recorded

    world.register("yamada-taro")
    real = dt.datetime.now(dt.UTC)
    entry = access_log.Entry(
        now=real - dt.timedelta(minutes=3),  # the slow instance's time
        clinic_code=CLINIC,
        person_ref=person_reference(residents["yamada-taro"].my_number, DEVELOPMENT_PSEUDONYM_KEY),
        method="pin",
        request={},
        answer={},
    )
    record = world.deps.checks.record(
        challenge_id=f"slow-{seconds}",
        expires_at=real + dt.timedelta(seconds=seconds),
        entry=entry,
    )
    with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever the suite runs
        recorded = thread.submit(asyncio.run, record).result()
    assert recorded.recorded is Recorded(outcome)


def test_a_challenge_issued_in_the_future_is_refused(world: World) -> None:
    """One instance 15 minutes fast: its challenges would live 17 minutes at the others."""
    world.register("yamada-taro")
    world.clock.advance(15 * 60)
    body = card_body(world, "yamada-taro", world.challenge())
    world.clock.advance(-15 * 60)
    status, answer = post_card(world, body)
    assert (status, error_code(answer)) == (400, "Q2001")


def test_a_challenge_a_second_ahead_is_taken(world: World) -> None:
    """Clocks synchronised to within the bound (5 s) agree."""
    world.register("yamada-taro")
    world.clock.advance(1)
    body = card_body(world, "yamada-taro", world.challenge())
    world.clock.advance(-1)
    status, answer = post_card(world, body)
    assert status == 200, answer
