"""Validate a user-authentication certificate against the JPKI trust anchors. No I/O.

Path validation is cryptography's X.509 verifier (RFC 5280 path building and signatures)
with an end-entity policy that fits the JPKI profile (docs/card.md: no SubjectAltName, KeyUsage
digitalSignature, the user-authentication certificate policy). The verifier does not check
revocation; the CRL of the issuing CA is checked here and fails closed when it is missing or
past its next update.

A card check (and only it) may take a physical card's certificate in its expiry grace
(`trust/grace.py`): its path is then validated as of its notAfter, the last moment it was
valid, and its revocation as of the check, against the current CRL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from qualification_server.trust.grace import CredentialKind, in_grace

# docs/card.md (unconfirmed inside real certificates): kept a setting of `TrustAnchors`.
USER_AUTH_POLICY = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.30")
# A JPKI auth certificate is about 1.1 KB (README); the API carries at most 8,192 base64
# characters (6,144 bytes). Anything larger is refused before it is parsed.
MAX_CERTIFICATE_BYTES = 6144
# What cryptography raises for DER it cannot read: not all ValueErrors (a name attribute of
# the wrong string type is a TypeError).
DER_PARSE_ERRORS = (
    ValueError,
    TypeError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


class CertificateProblem(Exception):
    """The certificate cannot be accepted. Subclasses say why; `detail` is for IT."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedCertificate(CertificateProblem):
    """Not a DER X.509 certificate."""


class UntrustedCertificate(CertificateProblem):
    """No path to a configured JPKI CA, or a profile the user-authentication role forbids."""


class CertificateExpired(CertificateProblem):
    """Past its notAfter at the time of the check."""


class CertificateNotYetValid(CertificateProblem):
    """Before its notBefore at the time of the check."""


class CertificateRevoked(CertificateProblem):
    """Listed on its CA's CRL."""

    def __init__(self, serial: int, revoked_at: dt.datetime, reason: str | None) -> None:
        super().__init__(f"certificate {serial} revoked at {revoked_at.isoformat()} ({reason})")
        self.serial = serial
        self.revoked_at = revoked_at
        self.reason = reason


class RevocationUnavailable(CertificateProblem):
    """The issuing CA's CRL is missing, invalid or past its next update: fail closed."""


@dataclass(frozen=True, slots=True)
class TrustedCa:
    """A JPKI CA and its current CRL (already checked to be signed by it), if any."""

    certificate: x509.Certificate
    crl: x509.CertificateRevocationList | None
    kind: CredentialKind = CredentialKind.PHYSICAL_CARD  # what its certificates are on
    # its subject as an RFC 4514 string, formatted once: the issuer of each certificate it
    # signed, by which the issuer directory and the access log name it (~10 µs a string)
    subject_string: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject_string", self.certificate.subject.rfc4514_string())


@dataclass(frozen=True)
class TrustAnchors:
    """The CAs the server trusts, each with its CRL."""

    cas: tuple[TrustedCa, ...]
    user_auth_policy: x509.ObjectIdentifier = USER_AUTH_POLICY
    _store: Store = field(init=False, repr=False, compare=False)
    _by_subject: dict[bytes, TrustedCa] = field(init=False, repr=False, compare=False)
    _policies: tuple[ExtensionPolicy, ExtensionPolicy] = field(
        init=False, repr=False, compare=False
    )  # (CA, end entity): built once, not per check

    def __post_init__(self) -> None:
        if not self.cas:
            raise ValueError("at least one trusted CA is needed")
        object.__setattr__(self, "_store", Store([ca.certificate for ca in self.cas]))
        object.__setattr__(
            self, "_by_subject", {ca.certificate.subject.public_bytes(): ca for ca in self.cas}
        )
        object.__setattr__(
            self,
            "_policies",
            (ExtensionPolicy.webpki_defaults_ca(), _end_entity_policy(self.user_auth_policy)),
        )

    def ca_for(self, issuer: x509.Name) -> TrustedCa | None:
        return self._by_subject.get(issuer.public_bytes())


@dataclass(frozen=True, slots=True)
class ValidatedCertificate:
    """A certificate that chains to a trusted CA, is within its dates and is not revoked."""

    certificate: x509.Certificate
    der: bytes
    public_key: rsa.RSAPublicKey
    issuer_string: str  # the issuer as an RFC 4514 string (its trusted CA's subject_string)
    in_grace: bool = False  # expired, and taken in its grace (trust/grace.py)
    kind: CredentialKind = CredentialKind.PHYSICAL_CARD  # the issuing CA's kind

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


def _end_entity_policy(user_auth_policy: x509.ObjectIdentifier) -> ExtensionPolicy:
    def key_usage_ok(_policy: Policy, _cert: x509.Certificate, ext: x509.KeyUsage | None) -> None:
        if ext is None or not ext.digital_signature or ext.key_cert_sign:
            raise ValueError("KeyUsage must allow digitalSignature and not keyCertSign")

    def policy_ok(
        _policy: Policy, _cert: x509.Certificate, ext: x509.CertificatePolicies | None
    ) -> None:
        if ext is None or user_auth_policy not in [p.policy_identifier for p in ext]:
            raise ValueError(f"not a user-authentication certificate (policy {user_auth_policy})")

    def not_a_ca(
        _policy: Policy, _cert: x509.Certificate, ext: x509.BasicConstraints | None
    ) -> None:
        # RFC 5280 §4.2.1.9: a card's certificate is an end entity; one that says it is a
        # CA could sign certificates of its own under the JPKI's name.
        if ext is not None and ext.ca:
            raise ValueError("an end-entity certificate must not be a CA (BasicConstraints)")

    return (
        ExtensionPolicy.permit_all()
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, not_a_ca)
        .require_present(x509.KeyUsage, Criticality.CRITICAL, key_usage_ok)
        .require_present(x509.CertificatePolicies, Criticality.AGNOSTIC, policy_ok)
    )


def validate_certificate(
    der: bytes, anchors: TrustAnchors, at: dt.datetime, *, grace: bool = False
) -> ValidatedCertificate:
    """Validate an auth certificate at time `at`. Raises a `CertificateProblem` subclass.

    With `grace`, an expired certificate still in its grace is valid (`in_grace`); past its
    grace it is expired."""
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise MalformedCertificate(
            f"{len(der)} bytes: larger than {MAX_CERTIFICATE_BYTES}, not a JPKI certificate"
        )
    try:
        cert = x509.load_der_x509_certificate(der)
        # cryptography parses names, extensions and the key only when they are first read
        # (the path verifier too): read them here, so that a broken one is a malformed
        # certificate rather than an unexpected error further down.
        issuer = cert.issuer
        _ = cert.subject, cert.extensions
        public_key = cert.public_key()
    except UnsupportedAlgorithm as exc:
        raise UntrustedCertificate(
            f"a JPKI auth certificate holds an RSA-2048 key, not this one: {exc}"
        ) from None
    except DER_PARSE_ERRORS as exc:
        raise MalformedCertificate(f"not a DER certificate: {exc}") from None
    if cert.serial_number <= 0:
        raise MalformedCertificate("the serial number is not positive (RFC 5280 §4.1.2.2)")
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != 2048:
        raise UntrustedCertificate("a JPKI auth certificate holds an RSA-2048 key")
    ca = anchors.ca_for(issuer)
    if ca is None:
        raise UntrustedCertificate(f"issuer {issuer.rfc4514_string()} is not a trusted CA")
    try:
        # First the signature, so that a certificate not made by the CA is untrusted whatever
        # its dates say (the path verifier below checks it again, with everything else).
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise UntrustedCertificate(f"not signed by the trusted CA: {exc!r}") from None
    if at < cert.not_valid_before_utc:
        raise CertificateNotYetValid(f"valid from {cert.not_valid_before_utc.isoformat()}")
    path_at, graced = at, False
    if at > cert.not_valid_after_utc:
        if not (grace and in_grace(ca.kind, cert.not_valid_after_utc, at)):
            raise CertificateExpired(f"expired at {cert.not_valid_after_utc.isoformat()}")
        path_at, graced = cert.not_valid_after_utc, True
    verifier = (
        PolicyBuilder()
        .store(anchors._store)
        .time(path_at)
        .extension_policies(ca_policy=anchors._policies[0], ee_policy=anchors._policies[1])
        .build_client_verifier()
    )
    try:
        verifier.verify(cert, [])
    except VerificationError as exc:
        raise UntrustedCertificate(f"path validation failed: {exc}") from None
    except DER_PARSE_ERRORS as exc:  # a part the verifier parses on its own
        raise MalformedCertificate(f"path validation cannot read it: {exc}") from None
    check_revocation(cert, ca, at)
    # the CA was found by the issuer's DER, so its subject's string is the issuer's
    return ValidatedCertificate(
        cert, der, public_key, ca.subject_string, in_grace=graced, kind=ca.kind
    )


def check_revocation(cert: x509.Certificate, ca: TrustedCa, at: dt.datetime) -> None:
    """Fail closed unless the CA's CRL is current and does not list `cert`."""
    crl = ca.crl
    if crl is None:
        raise RevocationUnavailable(f"no CRL for {ca.certificate.subject.rfc4514_string()}")
    next_update = crl.next_update_utc
    if next_update is None or at > next_update:
        raise RevocationUnavailable(
            f"the CRL is stale (next update {next_update.isoformat() if next_update else 'none'})"
        )
    if at < crl.last_update_utc - dt.timedelta(minutes=5):
        raise RevocationUnavailable("the CRL is dated in the future")
    try:
        # The CA signed the CRL, but its entries are parsed only now, as they are searched.
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is None:
            return
        revoked_at = revoked.revocation_date_utc
        reason: str | None = None
        with contextlib.suppress(x509.ExtensionNotFound):
            reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except DER_PARSE_ERRORS as exc:
        raise RevocationUnavailable(f"the CRL's entries cannot be read: {exc}") from None
    raise CertificateRevoked(cert.serial_number, revoked_at, reason)
