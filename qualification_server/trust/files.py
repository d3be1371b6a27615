"""Trust material on disk, reloaded when it changes (a new CRL is published daily).

A reload checks the files' modification stamps at most once per `check_interval_s`; a file
that is being replaced and does not parse keeps the previous anchors until it does, and a
CA whose CRL cannot be read gets none, which validation turns into a fail-closed refusal.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from qualification_server.file_stamps import FileStamp, file_stamp
from qualification_server.trust.validation import DER_PARSE_ERRORS, TrustAnchors, TrustedCa

log = logging.getLogger(__name__)


class TrustConfigurationError(RuntimeError):
    """The configured CA certificates cannot be loaded."""


# A file that cannot be read, or that holds DER cryptography cannot parse or use.
_LOAD_ERRORS = (OSError, UnsupportedAlgorithm, *DER_PARSE_ERRORS)


def _load_certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        certificates = x509.load_pem_x509_certificates(data)
    else:
        certificates = [x509.load_der_x509_certificate(data)]
    for certificate in certificates:
        # Parsed lazily by cryptography: read now, so that a broken CA fails the load and
        # not the first validation that meets it.
        _ = certificate.subject, certificate.extensions, certificate.public_key()
    return certificates


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    # The entries stay lazy (a CRL can be long); `check_revocation` fails closed on a bad one.
    _ = crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions
    return crl


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    if ca.subject != crl.issuer or not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        return crl.is_signature_valid(key)
    except (UnsupportedAlgorithm, *DER_PARSE_ERRORS):
        return False


def load_anchors(ca_files: list[Path], crl_files: list[Path]) -> TrustAnchors:
    """Read the CA certificates and match each CRL to the CA that signed it."""
    cas: list[x509.Certificate] = []
    for path in ca_files:
        try:
            cas.extend(_load_certificates(path))
        except _LOAD_ERRORS as exc:
            raise TrustConfigurationError(f"cannot load CA certificate {path}: {exc}") from exc
    crls: dict[bytes, x509.CertificateRevocationList] = {}
    for path in crl_files:
        try:
            crl = _load_crl(path)
        except _LOAD_ERRORS as exc:
            log.error(
                "CRL %s cannot be loaded (%s): its CA's certificates will be refused", path, exc
            )
            continue
        for ca in cas:
            if _signed_by(crl, ca):
                crls[ca.subject.public_bytes()] = crl
                break
        else:
            log.error("CRL %s is not signed by any configured CA: ignored", path)
    return TrustAnchors(tuple(TrustedCa(ca, crls.get(ca.subject.public_bytes())) for ca in cas))


@dataclass
class _Loaded:
    stamp: FileStamp
    anchors: TrustAnchors
    checked_at: float


class TrustStore:
    """The current `TrustAnchors`, reloaded from the files when they change."""

    def __init__(
        self, ca_files: list[Path], crl_files: list[Path], check_interval_s: float = 1.0
    ) -> None:
        self._ca_files = list(ca_files)
        self._crl_files = list(crl_files)
        self._paths = [*self._ca_files, *self._crl_files]
        self._interval = check_interval_s
        self._lock = threading.Lock()
        stamp = file_stamp(self._paths)
        self._loaded = _Loaded(
            stamp, load_anchors(self._ca_files, self._crl_files), time.monotonic()
        )

    def anchors(self) -> TrustAnchors:
        loaded = self._loaded
        now = time.monotonic()
        if now - loaded.checked_at < self._interval:
            return loaded.anchors
        with self._lock:
            loaded = self._loaded
            stamp = file_stamp(self._paths)
            if stamp != loaded.stamp:
                try:
                    anchors = load_anchors(self._ca_files, self._crl_files)
                except TrustConfigurationError as exc:
                    log.error("keeping the previous trust anchors: %s", exc)
                    anchors = loaded.anchors
                else:
                    log.info("trust anchors reloaded")
                self._loaded = _Loaded(stamp, anchors, now)
            else:
                loaded.checked_at = now
            return self._loaded.anchors
