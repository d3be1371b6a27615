"""The JPKI and 券面事項入力補助 sessions against the emulated card, in process."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.core.errors import (
    ApplicationNotFound,
    CardRemoved,
    PinBlocked,
    PinError,
    SecurityStatusNotSatisfied,
)
from card_reader.core.jpki import JpkiFile, JpkiSession
from card_reader.core.kenhojo import KenhojoSession
from card_reader.emulator.card import EmulatedCard
from card_reader.issuance.residents import Resident
from card_reader.transports.inprocess import InProcessConnection
from tests.support.cards import PIN, SIGN_PASSWORD


def rsa_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_full_pin_mode_check(card: EmulatedCard, connection: InProcessConnection) -> None:
    challenge = b"server challenge 0123456789abcdef"
    session = JpkiSession(connection)
    der = session.read_auth_certificate()
    signature = session.authenticate(PIN, hashlib.sha256(challenge).digest())
    assert der == card.image.jpki_files[JpkiFile.AUTH_CERT]
    cert = x509.load_der_x509_certificate(der)
    rsa_key(cert).verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    # SELECT AP, SELECT EF, ceil(size/256) READs, SELECT PIN, VERIFY, SELECT key, SIGN
    assert connection.apdu_count == 2 + -(-len(der) // 256) + 4
    assert connection.apdu_count <= 12


def test_signature_over_another_challenge_does_not_verify(
    connection: InProcessConnection,
) -> None:
    session = JpkiSession(connection)
    cert = x509.load_der_x509_certificate(session.read_auth_certificate())
    signature = session.authenticate(PIN, hashlib.sha256(b"one").digest())
    with pytest.raises(InvalidSignature):
        rsa_key(cert).verify(signature, b"two", padding.PKCS1v15(), hashes.SHA256())


def test_ca_certificate_issued_the_auth_certificate(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    cert = x509.load_der_x509_certificate(session.read_auth_certificate())
    ca = x509.load_der_x509_certificate(session.read_auth_ca_certificate())
    assert cert.issuer == ca.subject
    authority = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    subject_key = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert authority.key_identifier == subject_key.digest
    cert.verify_directly_issued_by(ca)  # raises InvalidSignature unless the CA signed it


def test_wrong_pin_reports_tries_left_then_blocks(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    for expected in (2, 1):
        with pytest.raises(PinError) as info:
            session.verify_auth_pin("0000")
        assert info.value.tries_left == expected
    with pytest.raises(PinBlocked):
        session.verify_auth_pin("0000")
    with pytest.raises(PinBlocked):
        session.verify_auth_pin(PIN)
    assert session.auth_pin_tries_left() == 0


def test_tries_left_spends_none(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    assert [session.auth_pin_tries_left() for _ in range(4)] == [3, 3, 3, 3]
    assert session.sign_password_tries_left() == 5


@pytest.mark.parametrize("bad_pin", ["123", "12345", "abcd", "１２３４", ""])
def test_malformed_pins_never_reach_the_card(connection: InProcessConnection, bad_pin: str) -> None:
    session = JpkiSession(connection)
    with pytest.raises(ValueError, match="4 digits"):
        session.verify_auth_pin(bad_pin)
    assert session.auth_pin_tries_left() == 3


def test_signing_without_pin_is_refused(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    with pytest.raises(SecurityStatusNotSatisfied):
        session.sign_digest(bytes(32))


def test_sign_certificate_needs_the_password(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    cert = x509.load_der_x509_certificate(session.read_sign_certificate(SIGN_PASSWORD))
    assert cert.issuer != x509.load_der_x509_certificate(session.read_auth_certificate()).issuer
    with pytest.raises(PinError) as info:
        session.read_sign_certificate("WRONG123")
    assert info.value.tries_left == 4


def test_change_pin(connection: InProcessConnection) -> None:
    session = JpkiSession(connection)
    session.change_auth_pin(PIN, "9876")
    session.verify_auth_pin("9876")
    with pytest.raises(PinError):
        session.verify_auth_pin(PIN)


def test_token_info(connection: InProcessConnection) -> None:
    assert JpkiSession(connection).read_token_info().startswith(b"JPKIAPICCTOKEN")


def test_card_removed_mid_read(card: EmulatedCard) -> None:
    class PullAfter(InProcessConnection):
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            if self.apdu_count == 4:  # during the certificate's READ BINARY commands
                self.remove()
            return super().send_and_receive(apdu)

    session = JpkiSession(PullAfter(card))
    with pytest.raises(CardRemoved):
        session.read_auth_certificate()


def test_card_without_jpki_is_reported(card: EmulatedCard) -> None:
    class NoJpki(InProcessConnection):
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return b"", 0x6A82

    with pytest.raises(ApplicationNotFound) as info:
        JpkiSession(NoJpki(card))
    assert info.value.aid.hex().upper() == "D392F000260100000001"


def test_kenhojo_reads_my_number_and_basic_info(
    connection: InProcessConnection, resident_list: list[Resident]
) -> None:
    session = KenhojoSession(connection)
    with pytest.raises(SecurityStatusNotSatisfied):
        session.read_my_number()
    session.verify_pin(PIN)
    resident = resident_list[0]
    assert session.read_my_number() == resident.my_number
    info = session.read_basic_info()
    assert (info.name, info.address, info.sex) == (resident.name, resident.address, resident.sex)
    assert info.birth_date == resident.birth_date
    assert isinstance(info.birth_date, dt.date)
    assert resident.name not in repr(info)


def test_kenhojo_pin_is_counted_separately(connection: InProcessConnection) -> None:
    session = KenhojoSession(connection)
    with pytest.raises(PinError):
        session.verify_pin("0000")
    assert session.pin_tries_left() == 2
    assert JpkiSession(connection).auth_pin_tries_left() == 3
