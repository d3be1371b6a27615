"""The smartphone credential (Android's スマホ用電子証明書, docs/card.md): the JPKI application
alone, its own CA, its auth certificate behind the PIN, read as a contactless token at the
NFC reader."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.core.errors import ApplicationNotFound, SecurityStatusNotSatisfied
from card_reader.core.jpki import TOKEN_ANDROID, JpkiSession
from card_reader.core.kenhojo import KenhojoSession
from card_reader.core.kenmen import KenmenSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import CONTACTLESS_ATR, CardKind, load_image
from card_reader.issuance.issuer import Issuer, IssuerError
from card_reader.issuance.residents import Resident
from card_reader.transports.inprocess import InProcessConnection
from card_reader.transports.pcsc import PcscReaders
from tests.support.cards import PIN, InsertedCard


@pytest.fixture
def phone(issuer: Issuer, resident_list: list[Resident]) -> EmulatedCard:
    path, _ = issuer.issue_smartphone(resident_list[0], pin=PIN)
    return EmulatedCard(load_image(path))


def test_a_phone_is_a_contactless_jpki_token_of_its_own_ca(
    phone: EmulatedCard, issuer: Issuer, resident_list: list[Resident]
) -> None:
    assert phone.image.kind is CardKind.SMARTPHONE
    assert phone.image.label == f"{resident_list[0].label}-phone"
    assert phone.atr == CONTACTLESS_ATR and phone.atr.hex().startswith("3b888001")
    session = JpkiSession(InProcessConnection(phone))
    assert session.token_name() == TOKEN_ANDROID
    assert session.pin_statuses() == {"0018": 3, "001B": 5}
    # the auth certificate is read after the PIN, unlike a card's
    with pytest.raises(SecurityStatusNotSatisfied):
        session.read_auth_certificate()
    session.verify_auth_pin(PIN)
    cert = x509.load_der_x509_certificate(session.read_auth_certificate())
    assert cert.issuer == issuer.phone_ca.certificate.subject
    assert "smartphone" in cert.issuer.rfc4514_string()
    digest = hashlib.sha256(b"challenge").digest()
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(session.sign_digest(digest), b"challenge", padding.PKCS1v15(), hashes.SHA256())


def test_one_verb_proves_presence_with_a_card_or_a_phone(
    phone: EmulatedCard, card: EmulatedCard
) -> None:
    digest = hashlib.sha256(b"challenge").digest()
    for token in (phone, card):
        connection = InProcessConnection(token)
        session = JpkiSession(connection)
        before = connection.apdu_count
        der, signature = session.prove_presence(PIN, digest)
        assert der == token.image.jpki_files[0x000A]
        key = x509.load_der_x509_certificate(der).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, b"challenge", padding.PKCS1v15(), hashes.SHA256())
        if token is card:  # a card: read, VERIFY, sign, as before (no extra command)
            assert connection.apdu_count - before == 1 + 5 + 2 + 2


def test_a_phone_has_neither_the_input_helper_nor_the_card_face(phone: EmulatedCard) -> None:
    connection = InProcessConnection(phone)
    with pytest.raises(ApplicationNotFound):
        KenhojoSession(connection)
    with pytest.raises(ApplicationNotFound):
        KenmenSession(connection)


def test_the_directory_maps_the_phone_to_the_same_person(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    card_path, card_entry = issuer.issue_card(
        resident_list[1].model_copy(update={"label": "both"}), pin=PIN
    )
    _, phone_entry = issuer.issue_smartphone(
        resident_list[1].model_copy(update={"label": "both"}), pin=PIN
    )
    assert phone_entry.person_ref == card_entry.person_ref
    assert phone_entry.issuer == issuer.phone_ca.certificate.subject.rfc4514_string()
    assert card_entry.issuer is None  # the directory's own issuer, the cards' CA
    # a phone's revocation goes on the phones' CRL, not the cards'
    issuer.revoke(phone_entry.serial)
    phones = issuer.load_crl(issuer.phone_ca.kind)
    assert phones.get_revoked_certificate_by_serial_number(phone_entry.serial) is not None
    assert issuer.load_crl().get_revoked_certificate_by_serial_number(phone_entry.serial) is None
    with pytest.raises(IssuerError, match="already"):
        issuer.issue_smartphone(resident_list[1].model_copy(update={"label": "both"}), pin=PIN)
    assert card_path.exists()


@pytest.mark.pcsc
def test_a_phone_is_read_as_a_contactless_token_through_pcscd(
    phone: EmulatedCard, readers: PcscReaders
) -> None:
    slot = InsertedCard(phone, readers, slot=1)
    slot.insert()
    try:
        assert bytes(_atr_of(slot.reader)) == CONTACTLESS_ATR  # (its disconnect resets)
        connection = readers.connect(slot.reader)
        session = JpkiSession(connection)
        assert session.token_name() == TOKEN_ANDROID
        session.verify_auth_pin(PIN)
        assert session.read_auth_certificate() == phone.image.jpki_files[0x000A]
        connection.close()
    finally:
        slot.remove()


def _atr_of(reader: str) -> list[int]:
    """The ATR pcscd reports for the card in `reader`, through pyscard's own API."""
    from smartcard.System import readers as pcsc_readers

    (found,) = [r for r in pcsc_readers() if str(r) == reader]
    probe = found.createConnection()
    probe.connect()
    try:
        return list(probe.getATR())
    finally:
        probe.disconnect()
