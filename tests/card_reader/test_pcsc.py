"""The JPKI flow through the real reader stack: pyscard → pcscd → vpcd → emulated card."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.core.errors import CardRemoved, NoCard, NoReader, PinBlocked, PinError
from card_reader.core.iso7816 import IsoChannel
from card_reader.core.jpki import AID_JPKI, JpkiFile, JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from tests.support.cards import PIN, InsertedCard

pytestmark = pytest.mark.pcsc


def test_virtual_readers_are_listed(readers: PcscReaders) -> None:
    assert {vpcd_reader_name(0), vpcd_reader_name(1)} <= set(readers.readers())


def test_full_pin_mode_check_through_pcscd(
    inserted: InsertedCard, readers: PcscReaders, card: EmulatedCard
) -> None:
    connection = readers.connect(inserted.reader)
    session = JpkiSession(connection)
    der = session.read_auth_certificate()
    signature = session.authenticate(PIN, hashlib.sha256(b"challenge").digest())
    connection.close()
    assert der == card.image.jpki_files[JpkiFile.AUTH_CERT]
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"challenge", padding.PKCS1v15(), hashes.SHA256())
    assert connection.apdu_count <= 12


def test_waiting_on_an_empty_reader_times_out(readers: PcscReaders) -> None:
    with pytest.raises(NoCard):
        readers.wait_for_card(vpcd_reader_name(1), timeout_s=0.3)


def test_unknown_reader_is_named(readers: PcscReaders) -> None:
    with pytest.raises(NoReader, match="Nonexistent"):
        readers.wait_for_card("Nonexistent Reader 00 00", timeout_s=0.1)


def test_card_removed_mid_read(inserted: InsertedCard, readers: PcscReaders) -> None:
    connection = readers.connect(inserted.reader)
    iso = IsoChannel(connection)
    iso.select_application(AID_JPKI)
    iso.select_file(JpkiFile.AUTH_CERT)
    assert len(iso.read_binary(0, 256)) == 256
    inserted.remove()
    with pytest.raises(CardRemoved):
        iso.read_binary(256, 256)
    connection.close()


def test_wrong_pin_to_lockout_and_lockout_survives_restart(
    inserted: InsertedCard, readers: PcscReaders, card_path: Path
) -> None:
    connection = readers.connect(inserted.reader)
    session = JpkiSession(connection)
    tries = []
    for _ in range(2):
        with pytest.raises(PinError) as info:
            session.verify_auth_pin("0000")
        tries.append(info.value.tries_left)
    with pytest.raises(PinBlocked):
        session.verify_auth_pin("0000")
    assert tries == [2, 1]
    connection.close()
    inserted.remove()

    # a new emulator process would load the image the old one saved
    restarted = EmulatedCard(load_image(card_path), on_change=lambda i: save_image(card_path, i))
    again = InsertedCard(restarted, readers)
    again.insert()
    connection = readers.connect(again.reader)
    session = JpkiSession(connection)
    assert session.auth_pin_tries_left() == 0
    with pytest.raises(PinBlocked):
        session.verify_auth_pin(PIN)
    connection.close()
    again.remove()


def test_reader_access_recovers_after_pcscd_restart(
    pcscd: Pcscd, readers: PcscReaders, card: EmulatedCard
) -> None:
    assert pcscd.owned, "this test restarts pcscd: stop the pcscd started outside the tests"
    assert readers.readers()  # the context is established
    pcscd.kill()
    pcscd.start()
    slot = InsertedCard(card, readers)
    slot.insert()  # waits for the card through the same PcscReaders
    connection = readers.connect(slot.reader)
    assert JpkiSession(connection).auth_pin_tries_left() == 3
    connection.close()
    slot.remove()
