"""The qualification server's certificate parser under arbitrary and damaged input.

`validate_certificate` answers a card's certificate with a `ValidatedCertificate` or a
`CertificateProblem` subclass, whatever the bytes; `load_anchors` answers the CA and CRL
files with `TrustAnchors` or `TrustConfigurationError`. The damaged inputs start from the
committed test issuer (`fixtures/issuer`): the card certificates, the CA and its CRL, as
they are, cut, edited, and edited then signed again by the test CA's key (so that parsing
gets past the signature to the fields behind it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from card_reader.core.tlv import encode_tlv, parse_header
from qualification_server.trust.files import TrustConfigurationError, load_anchors
from qualification_server.trust.validation import (
    MAX_CERTIFICATE_BYTES,
    CertificateProblem,
    MalformedCertificate,
    RevocationUnavailable,
    TrustAnchors,
    ValidatedCertificate,
    validate_certificate,
)

from .mutations import mutated, mutations_of
from .outcomes import attempt

ISSUER = Path(__file__).resolve().parents[2] / "fixtures" / "issuer"
CA_FILE = ISSUER / "ca" / "auth_ca.pem"
CRL_FILE = ISSUER / "crl" / "auth_ca.crl"
CA_KEY_FILE = ISSUER / "ca" / "auth_ca.key.pem"
AUTH_CERT_EF = "000A"

# Edited serial numbers can come out zero or negative: cryptography warns as it parses
# them, and `validate_certificate` refuses them. The warning is expected here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a serial number which wasn't positive"
    ":cryptography.utils.CryptographyDeprecationWarning"
)


def _card_certificates() -> list[bytes]:
    """The cards' auth certificates (the smartphone's comes from another CA)."""
    images = [json.loads(card.read_text()) for card in sorted((ISSUER / "cards").glob("*.json"))]
    return [
        bytes.fromhex(image["jpki_files"][AUTH_CERT_EF])
        for image in images
        if image["kind"] != "smartphone"
    ]


@dataclass(frozen=True)
class Signed:
    """A signed DER object (certificate or CRL) split so that an edited TBS part can be
    signed again with the test CA's key."""

    tbs: bytes
    signature_algorithm: bytes

    @classmethod
    def split(cls, der: bytes) -> Signed:
        outer = parse_header(der)
        body = der[outer.header_length : outer.total_length]
        tbs_length = parse_header(body).total_length
        algorithm_length = parse_header(body, tbs_length).total_length
        return cls(body[:tbs_length], body[tbs_length : tbs_length + algorithm_length])

    def signed(self, tbs: bytes, key: rsa.RSAPrivateKey) -> bytes:
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        bit_string = encode_tlv(0x03, b"\x00" + signature)
        return encode_tlv(0x30, tbs + self.signature_algorithm + bit_string)


CARD_CERTIFICATES = _card_certificates()
CA_DER = x509.load_pem_x509_certificate(CA_FILE.read_bytes()).public_bytes(
    serialization.Encoding.DER
)
CRL_DER = CRL_FILE.read_bytes()
CERT_PARTS = Signed.split(CARD_CERTIFICATES[0])
CA_PARTS = Signed.split(CA_DER)
CRL_PARTS = Signed.split(CRL_DER)


def _ca_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(CA_KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


CA_KEY = _ca_key()


@pytest.fixture(scope="module")
def anchors() -> TrustAnchors:
    return load_anchors([CA_FILE], [CRL_FILE])


@pytest.fixture(scope="module")
def now() -> dt.datetime:
    """A moment when the fixture cards are valid and the fixture CRL is current."""
    first = x509.load_der_x509_certificate(CARD_CERTIFICATES[0])
    crl = x509.load_der_x509_crl(CRL_DER)
    return max(first.not_valid_before_utc, crl.last_update_utc) + dt.timedelta(minutes=1)


def outcome(der: bytes, anchors: TrustAnchors, at: dt.datetime) -> ValidatedCertificate | str:
    """The validated certificate, or the name of the problem; anything else propagates."""
    result = attempt(lambda: validate_certificate(der, anchors, at), CertificateProblem)
    if isinstance(result, ValidatedCertificate):
        return result
    assert result.detail, "a problem says what is wrong"
    return type(result).__name__


def test_the_fixture_certificates_validate(anchors: TrustAnchors, now: dt.datetime) -> None:
    # The starting point of the properties below: undamaged, every card is accepted.
    for der in CARD_CERTIFICATES:
        assert isinstance(outcome(der, anchors, now), ValidatedCertificate)
    assert isinstance(outcome(CERT_PARTS.signed(CERT_PARTS.tbs, CA_KEY), anchors, now),
                      ValidatedCertificate)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_are_a_malformed_certificate(
    anchors: TrustAnchors, now: dt.datetime, data: bytes
) -> None:
    with pytest.raises(MalformedCertificate):
        validate_certificate(data, anchors, now)


@settings(max_examples=100, deadline=None)
@given(der=st.sampled_from(CARD_CERTIFICATES), data=st.data())
def test_a_truncated_certificate_is_malformed(
    anchors: TrustAnchors, now: dt.datetime, der: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(der) - 1), label="cut")
    with pytest.raises(MalformedCertificate):
        validate_certificate(der[:cut], anchors, now)


@settings(max_examples=500, deadline=None)
@given(der=mutations_of(CARD_CERTIFICATES))
def test_a_damaged_certificate_is_refused_with_a_certificate_problem(
    anchors: TrustAnchors, now: dt.datetime, der: bytes
) -> None:
    result = outcome(der, anchors, now)
    if isinstance(result, ValidatedCertificate):
        # Only an edit outside what the CA signed can leave a certificate acceptable.
        assert Signed.split(der).tbs in {Signed.split(c).tbs for c in CARD_CERTIFICATES}


@settings(max_examples=300, deadline=None)
@given(tbs=mutated(CERT_PARTS.tbs))
def test_damaged_fields_signed_by_the_trusted_ca_give_a_certificate_problem(
    anchors: TrustAnchors, now: dt.datetime, tbs: bytes
) -> None:
    # Signed again, the damage reaches the names, the key, the extensions and the dates:
    # accepted (the CA vouches for whatever it signed) or refused with a reason, no crash.
    result = outcome(CERT_PARTS.signed(tbs, CA_KEY), anchors, now)
    assert isinstance(result, ValidatedCertificate | str)


@pytest.mark.parametrize("size", [MAX_CERTIFICATE_BYTES + 1, 1 << 20])
def test_an_oversized_certificate_is_refused_before_it_is_parsed(
    anchors: TrustAnchors, now: dt.datetime, size: int
) -> None:
    # A valid certificate with padding after it: refused for its size, not its content.
    der = CARD_CERTIFICATES[0] + bytes(size - len(CARD_CERTIFICATES[0]))
    with pytest.raises(MalformedCertificate, match=f"larger than {MAX_CERTIFICATE_BYTES}"):
        validate_certificate(der, anchors, now)


def _resigned(parts: Signed) -> Callable[[bytes], bytes]:
    return lambda tbs: parts.signed(tbs, CA_KEY)


damaged_ca = st.one_of(mutations_of([CA_DER]), mutated(CA_PARTS.tbs).map(_resigned(CA_PARTS)))
damaged_crl = st.one_of(mutations_of([CRL_DER]), mutated(CRL_PARTS.tbs).map(_resigned(CRL_PARTS)))


def _anchors_from(folder: Path, ca: bytes, crl: bytes) -> TrustAnchors | None:
    """`load_anchors` over the two files; None for `TrustConfigurationError`."""
    (folder / "ca.der").write_bytes(ca)
    (folder / "ca.crl").write_bytes(crl)
    loaded = attempt(
        lambda: load_anchors([folder / "ca.der"], [folder / "ca.crl"]), TrustConfigurationError
    )
    if isinstance(loaded, TrustAnchors):
        return loaded
    assert str(folder / "ca.der") in str(loaded), "the error names the file"
    return None


@settings(max_examples=200, deadline=None)
@given(crl=damaged_crl)
def test_a_damaged_crl_is_dropped_or_used_and_validation_fails_closed(
    tmp_path_factory: pytest.TempPathFactory, now: dt.datetime, crl: bytes
) -> None:
    loaded = _anchors_from(tmp_path_factory.mktemp("trust"), CA_DER, crl)
    assert loaded is not None, "a bad CRL never stops the CA from loading"
    (ca,) = loaded.cas
    result = outcome(CARD_CERTIFICATES[0], loaded, now)
    if ca.crl is None:
        assert result == RevocationUnavailable.__name__
    else:
        assert isinstance(result, ValidatedCertificate | str)


@settings(max_examples=200, deadline=None)
@given(ca=damaged_ca)
def test_a_damaged_ca_file_is_a_configuration_error_or_refuses_cleanly(
    tmp_path_factory: pytest.TempPathFactory, now: dt.datetime, ca: bytes
) -> None:
    loaded = _anchors_from(tmp_path_factory.mktemp("trust"), ca, CRL_DER)
    if loaded is not None:
        assert isinstance(outcome(CARD_CERTIFICATES[0], loaded, now), ValidatedCertificate | str)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=1024))
def test_arbitrary_bytes_as_trust_files(
    tmp_path_factory: pytest.TempPathFactory, now: dt.datetime, data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("trust")
    assert _anchors_from(folder, data, CRL_DER) is None
    as_crl = _anchors_from(folder, CA_DER, data)
    assert as_crl is not None and as_crl.cas[0].crl is None
    assert outcome(CARD_CERTIFICATES[0], as_crl, now) == RevocationUnavailable.__name__
