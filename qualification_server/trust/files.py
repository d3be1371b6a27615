"""Trust material on disk, reloaded when it changes (a new CRL is published daily), and
never rolled back to an older CRL (`rollback`).

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

from qualification_server.trust.file_stamps import FileStamp, file_stamp
from qualification_server.trust.grace import CredentialKind
from qualification_server.trust.rollback import CrlHighWater, CrlMark
from qualification_server.trust.test_material import (
    CommittedTestMaterial,
    refuse_test_ca,
    refuse_test_crl,
    spki_fingerprint,
)
from qualification_server.trust.validation import DER_PARSE_ERRORS, TrustAnchors, TrustedCa

log = logging.getLogger(__name__)


class TrustConfigurationError(RuntimeError):
    """The configured CA certificates cannot be loaded."""


# A file that cannot be read, or that holds DER cryptography cannot parse or use.
_LOAD_ERRORS = (OSError, UnsupportedAlgorithm, *DER_PARSE_ERRORS)


def read_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM (one or more) or DER file, each parsed in full."""
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


def read_crl(path: Path) -> x509.CertificateRevocationList:
    """A CRL from a PEM or DER file."""
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


def load_anchors(
    ca_files: list[Path],
    crl_files: list[Path],
    *,
    smartphone_ca_files: list[Path] | tuple[Path, ...] = (),
    refuse_test_material: bool = False,
    high_water: CrlHighWater | None = None,
    previous: TrustAnchors | None = None,
) -> TrustAnchors:
    """Read the CA certificates and match each CRL to the CA that signed it.

    `refuse_test_material` (outside development): a committed test CA is a configuration
    error and a CRL the committed test CA signed is ignored (`test_material`).
    `high_water`: a CRL older than one seen of its CA is ignored, and the CA keeps the newer
    one of `previous` (the anchors in use) if it has it, else none (`rollback`).
    `smartphone_ca_files`: the CAs of smartphones' certificates (スマホ用電子証明書), trusted
    like the cards' and told apart by being configured here (`grace.CredentialKind`)."""
    cas: list[x509.Certificate] = []
    kinds: dict[bytes, CredentialKind] = {}
    for path in [*ca_files, *smartphone_ca_files]:
        try:
            certificates = read_certificates(path)
            if refuse_test_material:
                for certificate in certificates:
                    refuse_test_ca(certificate, str(path))
        except CommittedTestMaterial as exc:
            raise TrustConfigurationError(str(exc)) from None
        except _LOAD_ERRORS as exc:
            raise TrustConfigurationError(f"cannot load CA certificate {path}: {exc}") from exc
        cas.extend(certificates)
        kind = (
            CredentialKind.SMARTPHONE
            if path in smartphone_ca_files
            else CredentialKind.PHYSICAL_CARD
        )
        kinds.update((c.subject.public_bytes(), kind) for c in certificates)
    crls: dict[bytes, x509.CertificateRevocationList] = {}
    for path in crl_files:
        try:
            crl = read_crl(path)
            if refuse_test_material:
                refuse_test_crl(crl, str(path))
        except CommittedTestMaterial as exc:
            log.error("%s: ignored, its CA's certificates will be refused", exc)
            continue
        except _LOAD_ERRORS as exc:
            log.error(
                "CRL %s cannot be loaded (%s): its CA's certificates will be refused", path, exc
            )
            continue
        for ca in cas:
            if _signed_by(crl, ca):
                # Of several CRLs of one CA, the newest, whatever the order of the files.
                held = crls.get(ca.subject.public_bytes())
                if held is None or CrlMark.of(held).is_below(CrlMark.of(crl)):
                    crls[ca.subject.public_bytes()] = crl
                break
        else:
            log.error("CRL %s is not signed by any configured CA: ignored", path)
    return TrustAnchors(
        tuple(
            TrustedCa(
                ca,
                _not_rolled_back(ca, crls.get(ca.subject.public_bytes()), high_water, previous),
                kinds[ca.subject.public_bytes()],
            )
            for ca in cas
        )
    )


def _not_rolled_back(
    ca: x509.Certificate,
    crl: x509.CertificateRevocationList | None,
    high_water: CrlHighWater | None,
    previous: TrustAnchors | None,
) -> x509.CertificateRevocationList | None:
    if crl is None or high_water is None:
        return crl
    ca_key = spki_fingerprint(ca)
    mark = CrlMark.of(crl)
    if high_water.admits(ca_key, mark):
        return crl
    newest = high_water.mark_of(ca_key)
    log.error(
        "the CRL of %s is older than one already seen (number %s, thisUpdate %s; newest seen: "
        "number %s, thisUpdate %s): a rollback, ignored",
        ca.subject.rfc4514_string(), mark.number, mark.this_update.isoformat(),
        newest.number if newest else "-", newest.this_update.isoformat() if newest else "-",
    )  # fmt: skip
    held = previous.ca_for(ca.subject) if previous is not None else None
    kept = held.crl if held is not None and held.certificate == ca else None
    return kept if kept is not None and high_water.admits(ca_key, CrlMark.of(kept)) else None


@dataclass
class _Loaded:
    stamp: FileStamp
    anchors: TrustAnchors
    checked_at: float


class TrustStore:
    """The current `TrustAnchors`, reloaded from the files when they change."""

    def __init__(
        self,
        ca_files: list[Path],
        crl_files: list[Path],
        check_interval_s: float = 1.0,
        *,
        smartphone_ca_files: list[Path] | tuple[Path, ...] = (),
        refuse_test_material: bool = False,
        high_water: CrlHighWater | None = None,
    ) -> None:
        """`high_water`: the CRL marks shared with the database (`rollback.sync`); by default
        this store's own, in memory."""
        self._refuse_test_material = refuse_test_material
        self.high_water = CrlHighWater() if high_water is None else high_water
        self._ca_files = list(ca_files)
        self._crl_files = list(crl_files)
        self._smartphone_ca_files = list(smartphone_ca_files)
        self._paths = [*self._ca_files, *self._smartphone_ca_files, *self._crl_files]
        self._interval = check_interval_s
        self._lock = threading.Lock()
        stamp = file_stamp(self._paths)
        self._loaded = _Loaded(stamp, self._load(), time.monotonic())

    def _load(self, previous: TrustAnchors | None = None) -> TrustAnchors:
        self._high_water_version = self.high_water.version
        return load_anchors(
            self._ca_files,
            self._crl_files,
            smartphone_ca_files=self._smartphone_ca_files,
            refuse_test_material=self._refuse_test_material,
            high_water=self.high_water,
            previous=previous,
        )

    def anchors(self) -> TrustAnchors:
        loaded = self._loaded
        now = time.monotonic()
        if now - loaded.checked_at < self._interval:
            return loaded.anchors
        with self._lock:
            loaded = self._loaded
            stamp = file_stamp(self._paths)
            # Files changed, or another instance saw a newer CRL than the one in use.
            if stamp != loaded.stamp or self.high_water.version != self._high_water_version:
                try:
                    anchors = self._load(previous=loaded.anchors)
                except TrustConfigurationError as exc:
                    log.error("keeping the previous trust anchors: %s", exc)
                    anchors = loaded.anchors
                else:
                    log.info("trust anchors reloaded")
                self._loaded = _Loaded(stamp, anchors, now)
            else:
                loaded.checked_at = now
            return self._loaded.anchors
