"""Two instances, one state: what one instance issued or recorded, the other accepts or
refuses at once, because the challenge carries itself and everything the instances must
agree on is on the primary (docs/deployment.md)."""

from __future__ import annotations

import threading

import httpx

from insurer_registry import db as registry_db
from insurer_registry.insurers.service import get_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import ReasonOfLoss
from insurer_registry.members.service import record_loss
from tests.cluster.conftest import Deployment
from tests.cluster.load import check_body, error_code
from tests.support.world import KYOKAI, D


def _challenge(base: str, deployment: Deployment, purpose: str = "check") -> dict[str, str]:
    response = httpx.post(
        f"{base}/v1/challenges", json={"purpose": purpose}, headers=deployment.headers()
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _check(base: str, deployment: Deployment, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/eligibility/card", json=body, headers=deployment.headers(), timeout=20
    )


def _results(response: httpx.Response) -> list[dict[str, str]]:
    body = response.json()["MessageBody"]
    return list(body["ResultList"]["ResultOfQualificationConfirmation"])


def _registry_reads_on(deployment: Deployment) -> dict[str, int]:
    """The instances' connections to the registry's database, on each server."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'registry' "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    cluster = deployment.cluster
    return {
        "standby": int(cluster.standby.execute(query)[0][0]),  # type: ignore[call-overload]
        "primary": int(cluster.primary.execute(query)[0][0]),  # type: ignore[call-overload]
    }


def test_a_challenge_issued_by_one_instance_is_accepted_by_the_other(
    deployment: Deployment,
) -> None:
    first, second = deployment.cluster.instance_urls
    challenge = _challenge(first, deployment)
    response = _check(second, deployment, check_body(challenge, deployment.card("yamada-taro")))
    assert response.status_code == 200, response.text
    assert deployment.records_by_challenge()[challenge["challenge_id"]] == 1


def test_a_check_replayed_at_the_other_instance_is_refused(deployment: Deployment) -> None:
    first, second = deployment.cluster.instance_urls
    challenge = _challenge(first, deployment)
    body = check_body(challenge, deployment.card("suzuki-hanako"))
    assert _check(first, deployment, body).status_code == 200
    for base in (second, first, deployment.cluster.url):
        replayed = _check(base, deployment, body)
        assert replayed.status_code == 409, replayed.text
        assert error_code(replayed) == "Q2003"
    assert deployment.records_by_challenge()[challenge["challenge_id"]] == 1


def test_a_registration_at_one_instance_is_seen_by_the_other_at_once(
    deployment: Deployment,
) -> None:
    first, second = deployment.cluster.instance_urls
    card = deployment.card("sato-yui")
    before = _check(second, deployment, check_body(_challenge(second, deployment), card))
    assert error_code(before) == "Q3001", before.text  # not registered yet

    challenge = _challenge(first, deployment, "registration")
    signed = check_body(challenge, card)
    proof = {
        "challenge": signed["challenge"],
        "certificate": signed["certificate"],
        "signature": signed["proof"]["signature"],
    }
    registered = httpx.post(
        f"{first}/v1/registrations", json={"proof": proof, "consent": True},
        headers=deployment.headers(), timeout=20,
    )  # fmt: skip
    assert registered.status_code == 200, registered.text
    # no wait: the registration is on the primary, where the other instance reads it
    after = _check(second, deployment, check_body(_challenge(second, deployment), card))
    assert after.status_code == 200, after.text


def test_an_insurers_write_is_read_on_the_standby_by_the_next_check(
    deployment: Deployment,
) -> None:
    """The registry's commits wait until the standby has applied them (remote_apply), so a
    check right after an insurer's write reads it there."""
    assert _registry_reads_on(deployment)["standby"] > 0
    card = deployment.card("ito-mai")
    base = deployment.cluster.url
    before = _check(base, deployment, check_body(_challenge(base, deployment), card))
    assert before.status_code == 200, before.text
    assert "DisqualificationDate" not in _results(before)[0]

    engine = registry_db.make_engine(deployment.cluster.registry_primary_url)
    sessions = registry_db.make_session_factory(engine)

    def insurer_writes() -> None:
        with registry_db.transaction(sessions) as session:
            insurer = get_insurer(session=session, number=KYOKAI)
            record_loss(
                session=session, insurer=insurer,
                qualification_id=deployment.qualification_ids["ito-mai"],
                loss_date=D(2025, 3, 31), reason=ReasonOfLoss.OTHER, actor=Actor.operator("tests"),
            )  # fmt: skip

    # With the standby's replay paused, the insurer's commit waits: it returns only once the
    # standby has applied it.
    standby = deployment.cluster.standby
    standby.execute("SELECT pg_wal_replay_pause()")
    writer = threading.Thread(target=insurer_writes)
    try:
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive()  # committed on the primary, not yet applied on the standby
        # meanwhile a check reads the standby as it was, and the insurer has not been told
        # the write is done
        during = _check(base, deployment, check_body(_challenge(base, deployment), card))
        assert "DisqualificationDate" not in _results(during)[0]
        assert writer.is_alive()
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")
    writer.join(timeout=10)
    assert not writer.is_alive()
    engine.dispose()

    after = _check(base, deployment, check_body(_challenge(base, deployment), card))
    assert after.status_code == 200, after.text
    assert _results(after)[0]["DisqualificationDate"] == "20250331"  # the loss, read at once
    assert _registry_reads_on(deployment)["primary"] == 0  # the reads were the standby's
