"""The physical card's files through the real reader stack (pyscard → pcscd → vpcd → the
emulated card), read the way independent JPKI tools read them (docs/card.md)."""

from __future__ import annotations

import pytest

from card_reader.core.errors import PinNotIssued
from card_reader.core.jpki import JpkiSession
from card_reader.core.kenhojo import KenhojoSession
from card_reader.core.kenmen import KenmenSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from card_reader.transports.pcsc import PcscReaders
from tests.support.cards import PIN, InsertedCard

pytestmark = pytest.mark.pcsc


def test_every_pin_status_and_the_fixed_reads_through_pcscd(
    inserted: InsertedCard, readers: PcscReaders, resident_list: list[Resident]
) -> None:
    connection = readers.connect(inserted.reader)
    assert JpkiSession(connection).pin_statuses() == {"0018": 3, "001B": 5}
    kenhojo = KenhojoSession(connection)
    assert kenhojo.pin_statuses() == {"0011": 3, "0014": 10, "0015": 10}
    kenhojo.verify_pin(PIN)
    # the My Number as a fixed 17-byte read, the 4 items as one 256-byte block: 90 00 both
    connection.send_and_receive(bytes.fromhex("00A4020C020001"))
    data, sw = connection.send_and_receive(bytes.fromhex("00B0000011"))
    assert sw == 0x9000 and data[:3] == b"\xff\x10\x0c" and data[-2:] == b"\xff\xff"
    connection.send_and_receive(bytes.fromhex("00A4020C020002"))
    data, sw = connection.send_and_receive(bytes.fromhex("00B0000000"))
    assert sw == 0x9000 and len(data) == 256
    my_number, _ = kenhojo.read_verified_attributes()
    assert my_number == resident_list[0].my_number
    kenmen = KenmenSession(connection)
    assert kenmen.pin_statuses() == {"0013": 10, "0012": 10}
    kenmen.verify_pin_a(my_number)
    assert kenmen.read_face().birth_date == resident_list[0].birth_date
    connection.close()


def test_a_face_card_refuses_its_pin_through_pcscd(
    issuer: Issuer, readers: PcscReaders, resident_list: list[Resident]
) -> None:
    resident = resident_list[1].model_copy(update={"label": "face-only", "card": "face_card"})
    path, _ = issuer.issue_card(resident, pin=None)
    slot = InsertedCard(EmulatedCard(load_image(path)), readers)
    slot.insert()
    try:
        connection = readers.connect(slot.reader)
        session = JpkiSession(connection)
        assert session.auth_pin_tries_left() == 0  # as a PIN locked at issue looks
        with pytest.raises(PinNotIssued):
            session.verify_auth_pin(PIN)
        assert session.read_auth_certificate()  # the face reader still reads it
        connection.close()
    finally:
        slot.remove()
