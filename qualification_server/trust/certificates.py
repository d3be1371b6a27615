"""A card's certificate in a flow: validated against the trust anchors with each problem as
its numbered error, resolved to its person through the issuer directory, and summarised
for the access log (issuer and serial; never a name)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from qualification_server.errors import Code, QualificationError
from qualification_server.trust.validation import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateProblem,
    CertificateRevoked,
    MalformedCertificate,
    RevocationUnavailable,
    ValidatedCertificate,
    validate_certificate,
)

if TYPE_CHECKING:
    from qualification_server.api.dependencies import Dependencies

_CERTIFICATE_CODES: dict[type[CertificateProblem], Code] = {
    MalformedCertificate: Code.MALFORMED_CERTIFICATE,
    CertificateExpired: Code.CERTIFICATE_EXPIRED,
    CertificateNotYetValid: Code.CERTIFICATE_NOT_YET_VALID,
    CertificateRevoked: Code.CERTIFICATE_REVOKED,
    RevocationUnavailable: Code.REVOCATION_UNAVAILABLE,
}


def validate(
    deps: Dependencies, der: bytes, now: dt.datetime, *, grace: bool = False
) -> ValidatedCertificate:
    """Validate a card certificate, mapping each problem to its numbered error; `grace` takes
    an expired one still in its grace (a card check's, never a registration's)."""
    try:
        return validate_certificate(der, deps.trust.anchors(), now, grace=grace)
    except CertificateProblem as problem:
        code = _CERTIFICATE_CODES.get(type(problem), Code.UNTRUSTED_CERTIFICATE)
        raise QualificationError(code, problem.detail) from None


def person_of(deps: Dependencies, cert: ValidatedCertificate) -> str:
    person_ref = deps.directory.person_of(cert.issuer_string, cert.serial)
    if person_ref is None:
        raise QualificationError(Code.PERSON_UNKNOWN, f"certificate {cert.serial}")
    return person_ref


def certificate_summary(cert: ValidatedCertificate | None, der: bytes | None) -> dict[str, Any]:
    if cert is not None:
        return {
            "issuer": cert.issuer_string,
            "serial": str(cert.serial),
            "credential": cert.kind.value,
        }
    return {"sha256": hashlib.sha256(der).hexdigest()} if der else {}
