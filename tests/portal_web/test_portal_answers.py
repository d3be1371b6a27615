"""The server's portal answer carries what the portal page shows: the registration (since
when, where, the insurers by name and number) and each record's answer as fields."""

from __future__ import annotations

import pytest

from qualification_server.contract.schemas import AccessHistory
from tests.support.world import CLINIC, KYOKAI, World

pytestmark = pytest.mark.db


def history(world: World, label: str) -> AccessHistory:
    proof = world.proof(label, world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    return AccessHistory.model_validate(response.json())


def test_the_registration_and_each_answer_in_fields(world: World) -> None:
    status, _ = world.check("yamada-taro")  # before registering: refused, Q3001
    assert status == 404
    world.register("yamada-taro")
    status, _ = world.check("yamada-taro")
    assert status == 200

    seen = history(world, "yamada-taro")

    registration = seen.registration
    assert registration is not None
    assert registration.registered_via == "portal"
    assert registration.registered_at == world.clock()
    assert [(i.insurer_number, i.insurer_name) for i in registration.insurers] == [
        (KYOKAI.digits, "全国健康保険協会 東京支部")
    ]
    check, registered, refused = seen.entries[:3]
    assert (check.method, check.result, check.validity, check.credential) == (
        "pin", "answered", "1", "card",
    )  # fmt: skip
    assert (check.clinic_code, check.clinic_name) == (CLINIC, "霞が関クリニック")
    assert (registered.method, registered.result) == ("registration", "done")
    assert (refused.method, refused.result, refused.error_code) == ("pin", "refused", "Q3001")


def test_no_registration_for_a_holder_who_is_not_registered(world: World) -> None:
    seen = history(world, "suzuki-hanako")
    assert seen.registration is None


def test_a_registration_made_at_a_clinic_names_it(world: World) -> None:
    challenge = world.challenge("registration")
    proof = world.proof("suzuki-hanako", challenge)
    response = world.client.post(
        "/v1/registrations", json={"proof": proof, "consent": True}, headers=world.headers()
    )
    assert response.status_code == 200, response.text
    registration = history(world, "suzuki-hanako").registration
    assert registration is not None
    assert (registration.registered_via, registration.clinic_code) == ("clinic", CLINIC)
    assert registration.clinic_name == "霞が関クリニック"
    assert len(registration.insurers) == 2  # 協会けんぽ and 国保, both current
