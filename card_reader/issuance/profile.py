"""Test CAs, the JPKI certificate profile (docs/card.md) and CRLs. Pure: keys and times come in.

Every name here says TEST: no fixture may ever claim to be the production J-LIS CA.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from dataclasses import dataclass, field
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from onshi_kernel.japan_time import JST, era_of

RSA_BITS = 2048
PUBLIC_EXPONENT = 65537
POLICY_USER_AUTH = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.30")  # (unconfirmed) docs/card.md
POLICY_SIGNATURE = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.1")  # (unconfirmed)
SUBJECT_ID_LENGTH = 23
# The holder's attributes in the signing certificate's subjectAltName, each an otherName whose
# value is a UTF8String, in a physical card's order (docs/card.md).
OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_NAME_SUBSTITUTES = x509.ObjectIdentifier("1.2.392.200149.8.5.5.2")  # a flag per character
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")  # era digit + YYYYMMDD
OID_ADDRESS = x509.ObjectIdentifier("1.2.392.200149.8.5.5.5")
OID_ADDRESS_SUBSTITUTES = x509.ObjectIdentifier("1.2.392.200149.8.5.5.6")
TEST_ORGANISATION = "JPKI-TEST"
TEST_MARK = "onshi test CA - not J-LIS"


class CaKind(Enum):
    """JPKI runs one CA for user authentication and one for signatures; a smartphone's
    user-authentication certificate comes from a CA of its own (its name is [chosen]: the
    real one is not published)."""

    AUTH = "JPKI for user authentication"
    SIGN = "JPKI for digital signature"
    PHONE_AUTH = "JPKI for smartphone user authentication"


# The CAs that issue user-authentication certificates, which the server trusts.
AUTH_KINDS = (CaKind.AUTH, CaKind.PHONE_AUTH)


def generate_key() -> rsa.RSAPrivateKey:
    """An RSA-2048 key, e=65537, as the card and the CA use."""
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=RSA_BITS)


def ca_name(kind: CaKind) -> x509.Name:
    """`C=JP, O=JPKI-TEST, OU=<kind>, OU=onshi test CA - not J-LIS`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, kind.value),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_MARK),
        ]
    )


def crl_distribution_name(kind: CaKind) -> x509.Name:
    """The CRL distribution point is a directory name under the CA's name (docs/card.md)."""
    return x509.Name(
        [
            *ca_name(kind),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
        ]
    )


@dataclass(frozen=True, slots=True)
class TestCa:
    """A test CA: its self-signed certificate and its key."""

    kind: CaKind
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def create_ca(kind: CaKind, key: rsa.RSAPrivateKey, now: dt.datetime, years: int = 20) -> TestCa:
    """A self-signed test CA certificate, valid from `now` for `years`."""
    name = ca_name(kind)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return TestCa(kind, certificate, key)


def new_subject_id(issued: dt.datetime) -> str:
    """An opaque 23-character subject ID: the issue date and 15 random characters."""
    alphabet = string.ascii_uppercase + string.digits
    tail = "".join(secrets.choice(alphabet) for _ in range(SUBJECT_ID_LENGTH - 8))
    return issued.astimezone(JST).strftime("%Y%m%d") + tail


_DIGITAL_SIGNATURE_ONLY = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_NON_REPUDIATION = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _end_entity(
    ca: TestCa,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_usage: x509.KeyUsage,
    policy: x509.ObjectIdentifier,
    alt_names: x509.SubjectAlternativeName | None = None,
) -> x509.Certificate:
    if not_after <= not_before:
        raise ValueError("a certificate must end after it begins")
    builder = x509.CertificateBuilder()
    if alt_names is not None:
        builder = builder.add_extension(alt_names, critical=False)
    return (
        builder.subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(key_usage, critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=True
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.DirectoryName(crl_distribution_name(ca.kind))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )


def issue_auth_certificate(
    ca: TestCa,
    public_key: rsa.RSAPublicKey,
    subject_id: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A user-authentication certificate: `C=JP, CN=<opaque id>`, digitalSignature only,
    from the card's CA or the smartphone's (the same profile [chosen])."""
    if ca.kind not in AUTH_KINDS:
        raise ValueError("the auth certificate comes from a user-authentication CA")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject_id),
        ]
    )
    return _end_entity(
        ca, subject, public_key, not_before, not_after, _DIGITAL_SIGNATURE_ONLY, POLICY_USER_AUTH
    )


@dataclass(frozen=True, slots=True)
class Holder:
    """The 4 attributes a signing certificate carries."""

    name: str = field(repr=False)
    address: str = field(repr=False)
    birth_date: dt.date = field(repr=False)
    sex: str = field(repr=False)


def _utf8_string(text: str) -> bytes:
    """DER of a UTF8String (tag 0C) holding `text`."""
    raw = text.encode("utf-8")
    n = len(raw)
    length = bytes((n,)) if n < 0x80 else bytes((0x80 | 2,)) + n.to_bytes(2, "big")
    return b"\x0c" + length + raw


def holder_alt_names(holder: Holder) -> x509.SubjectAlternativeName:
    """The attributes as otherNames under the JPKI OIDs. The substitute flags say, per
    character, whether it was replaced by a standard form: never, here."""
    era, _ = era_of(holder.birth_date)
    birth = f"{era.digit}{holder.birth_date:%Y%m%d}"
    values = (
        (OID_NAME, holder.name),
        (OID_BIRTH_DATE, birth),
        (OID_SEX, holder.sex),
        (OID_ADDRESS, holder.address),
        (OID_NAME_SUBSTITUTES, "0" * len(holder.name)),
        (OID_ADDRESS_SUBSTITUTES, "0" * len(holder.address)),
    )
    return x509.SubjectAlternativeName(
        [x509.OtherName(oid, _utf8_string(value)) for oid, value in values]
    )


def issue_sign_certificate(
    ca: TestCa,
    public_key: rsa.RSAPublicKey,
    holder: Holder,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A signing certificate: it carries the holder's 4 attributes (hence the password), in
    the subject (name and address) and in the subjectAltName under the JPKI OIDs."""
    if ca.kind is not CaKind.SIGN:
        raise ValueError("the signing certificate comes from the signature CA")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, holder.address),
            x509.NameAttribute(NameOID.COMMON_NAME, holder.name),
        ]
    )
    return _end_entity(
        ca,
        subject,
        public_key,
        not_before,
        not_after,
        _NON_REPUDIATION,
        POLICY_SIGNATURE,
        alt_names=holder_alt_names(holder),
    )


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked certificate on a CRL."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags


def build_crl(
    ca: TestCa,
    revocations: list[Revocation],
    this_update: dt.datetime,
    next_update: dt.datetime,
    number: int,
) -> x509.CertificateRevocationList:
    """A CRL signed by `ca` listing `revocations`, with a CRL number."""
    if next_update <= this_update:
        raise ValueError("next_update must follow this_update")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for entry in revocations:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(entry.reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(ca.key, hashes.SHA256())


def revocations_of(crl: x509.CertificateRevocationList) -> list[Revocation]:
    """The entries of an existing CRL, to carry them into the next one."""
    out = []
    for revoked in crl:
        try:
            reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = x509.ReasonFlags.unspecified
        out.append(Revocation(revoked.serial_number, revoked.revocation_date_utc, reason))
    return out
