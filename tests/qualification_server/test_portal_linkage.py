"""The person's view of who linked their My Number (issue 17): every insurer's linkage event,
oldest first, with how the issuer's match came out, item by item, and the My Number by its
last 4 digits only."""

from __future__ import annotations

import json

import pytest

from card_reader.issuance.residents import Resident
from qualification_server.contract.schemas import AccessHistory
from tests.portal_web.linkage import WRONG_NAME, confirm_twice, correct_to, register_held
from tests.support.world import KOKUHO, KYOKAI, World

pytestmark = pytest.mark.db


def viewed(world: World, label: str) -> tuple[AccessHistory, str]:
    """The portal answer for `label`, parsed and as the raw body."""
    proof = world.proof(label, world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    return AccessHistory.model_validate(response.json()), response.text


def test_a_matched_and_a_held_linkage_as_the_person_sees_them(
    world: World, residents: dict[str, Resident]
) -> None:
    yamada = residents["yamada-taro"]
    register_held(world, residents, "yamada-taro")

    seen, body = viewed(world, "yamada-taro")

    matched, held = seen.Linkages  # oldest first: the seeded 協会けんぽ, then the wrong name
    assert (matched.InsurerNumber, matched.InsurerName) == (
        KYOKAI.digits, "全国健康保険協会 東京支部",
    )  # fmt: skip
    assert (matched.Event, matched.State, matched.PersonKnownToIssuer) == (
        "linked", "matched", True,
    )  # fmt: skip
    assert matched.Outcomes == {
        "Name": "match", "Birthdate": "match", "Sex1": "match", "Address": "not_given",
    }  # fmt: skip
    assert (held.InsurerNumber, held.InsurerName) == (KOKUHO.digits, "千代田区国民健康保険")
    assert (held.Event, held.State) == ("linked", "held")
    assert held.Outcomes == {
        "Name": "mismatch", "Birthdate": "match", "Sex1": "match", "Address": "not_given",
    }  # fmt: skip
    assert matched.At <= held.At
    assert matched.MyNumberLast4 == held.MyNumberLast4 == yamada.my_number[-4:]
    # Only the last 4 digits, and no value of an item, anywhere in the answer.
    assert yamada.my_number not in body
    assert yamada.my_number[:-4] not in body
    assert WRONG_NAME not in body and yamada.name not in body
    assert 'MyNumber"' not in body


def test_the_release_by_two_users_follows_the_hold(
    world: World, residents: dict[str, Resident]
) -> None:
    held_id = register_held(world, residents, "yamada-taro")
    confirm_twice(world, held_id)

    seen, _ = viewed(world, "yamada-taro")

    at_kokuho = [(e.Event, e.State) for e in seen.Linkages if e.InsurerNumber == KOKUHO.digits]
    assert at_kokuho == [
        ("linked", "held"), ("confirmed", "held"), ("confirmed", "held"),
        ("released", "confirmed"),
    ]  # fmt: skip


def test_a_number_corrected_to_another_person_shows_only_this_persons_digits(
    world: World, residents: dict[str, Resident]
) -> None:
    held_id = register_held(world, residents, "yamada-taro")  # it was ito-mai's, in fact
    correct_to(world, residents, held_id, "ito-mai")

    seen, body = viewed(world, "yamada-taro")

    unlinked = seen.Linkages[-1]
    assert (unlinked.InsurerNumber, unlinked.Event) == (KOKUHO.digits, "unlinked")
    assert unlinked.MyNumberLast4 == residents["yamada-taro"].my_number[-4:]
    assert residents["ito-mai"].my_number[-4:] not in body
    theirs, _ = viewed(world, "ito-mai")
    assert [(e.InsurerNumber, e.Event, e.State) for e in theirs.Linkages][-1] == (
        KOKUHO.digits, "rematched", "matched",
    )  # fmt: skip


def test_each_insurer_that_linked_the_number_and_the_viewing_recorded(
    world: World, residents: dict[str, Resident]
) -> None:
    seen, body = viewed(world, "suzuki-hanako")

    assert [(e.InsurerNumber, e.Event, e.State) for e in seen.Linkages] == [
        (KYOKAI.digits, "linked", "matched"), (KOKUHO.digits, "linked", "matched"),
    ]  # fmt: skip
    assert residents["suzuki-hanako"].my_number not in body
    again, _ = viewed(world, "suzuki-hanako")
    viewing = again.entries[0]
    assert (viewing.method, viewing.clinic_code) == ("portal", None)


def test_the_answer_without_linkages_still_reads() -> None:
    old = {"entries": [], "registration": None}  # an answer from before issue 17
    assert AccessHistory.model_validate(old).Linkages == []
    assert json.loads(AccessHistory.model_validate(old).model_dump_json())["Linkages"] == []
