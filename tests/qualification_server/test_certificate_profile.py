"""The end-entity profile of a card's user-authentication certificate, as a vector test: a
certificate re-issued by the trusted CA with one thing changed. No database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader.core.jpki import JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from card_reader.transports.inprocess import InProcessConnection
from qualification_server.trust.files import load_anchors
from qualification_server.trust.validation import UntrustedCertificate, validate_certificate

ISSUER = Path(__file__).resolve().parents[2] / "fixtures" / "issuer"


def _reissued(*, ca_flag: bool | None) -> bytes:
    """A fixture card's auth certificate, re-signed by the CA, with BasicConstraints set to
    `ca_flag` (None: without it, as issued)."""
    card = EmulatedCard(load_image(ISSUER / "cards" / "yamada-taro.json"))
    original = x509.load_der_x509_certificate(
        JpkiSession(InProcessConnection(card)).read_auth_certificate()
    )
    ca_cert = x509.load_pem_x509_certificate((ISSUER / "ca" / "auth_ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key(
        (ISSUER / "ca" / "auth_ca.key.pem").read_bytes(), password=None
    )
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(ca_cert.subject)
        .public_key(original.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
    )
    for extension in original.extensions:
        if not isinstance(extension.value, x509.BasicConstraints):
            builder = builder.add_extension(extension.value, extension.critical)
    if ca_flag is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def anchors():  # type: ignore[no-untyped-def]
    return load_anchors([ISSUER / "ca" / "auth_ca.pem"], [ISSUER / "crl" / "auth_ca.crl"])


@pytest.mark.parametrize("ca_flag", [None, False])
def test_an_end_entity_certificate_validates(anchors, ca_flag: bool | None) -> None:  # type: ignore[no-untyped-def]
    validate_certificate(_reissued(ca_flag=ca_flag), anchors, dt.datetime.now(dt.UTC))


def test_an_end_entity_certificate_that_says_it_is_a_ca_is_untrusted(anchors) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UntrustedCertificate, match="path validation failed"):
        validate_certificate(_reissued(ca_flag=True), anchors, dt.datetime.now(dt.UTC))
