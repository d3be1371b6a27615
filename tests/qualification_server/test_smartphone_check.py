"""A card check with a smartphone (スマホ用電子証明書): answered like a card's, the answer and the
access record saying it was a smartphone; a card's says card (docs/answer.md)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from card_reader.issuance.residents import Resident
from qualification_server.models import AccessRecord
from tests.support.cards import PIN
from tests.support.world import World

pytestmark = pytest.mark.db


def test_a_phone_check_is_answered_and_recorded_as_a_smartphone(
    world: World, residents: dict[str, Resident]
) -> None:
    start = world.clock.now - dt.timedelta(minutes=1)  # the world's clock stands still
    path, _ = world.issuer.issue_smartphone(residents["suzuki-hanako"], pin=PIN, not_before=start)
    world.register("suzuki-hanako")  # registered with the card: the phone is the same person
    status, body = world.check(path.stem)
    assert status == 200, body
    assert body["MessageHeader"]["CredentialClassification"] == "2"
    status, card_body = world.check("suzuki-hanako")
    assert status == 200, card_body
    assert card_body["MessageHeader"]["CredentialClassification"] == "1"
    assert body["MessageBody"] == card_body["MessageBody"]  # the same person, the same answer
    with world.deps.sessions() as session:
        records = list(session.scalars(select(AccessRecord).order_by(AccessRecord.id)))
    credentials = [json.loads(r.request)["certificate"]["credential"] for r in records[-2:]]
    assert credentials == ["smartphone", "physical card"]
