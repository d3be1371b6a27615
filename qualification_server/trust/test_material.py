"""The committed test issuer, recognised by its content wherever its files lie.

The CA keys under `fixtures/issuer/ca/` are in the repository, so anyone can mint a
certificate, a CRL or a directory entry with them. Outside development the server refuses
them by what they are, not by where they are: a CA whose public key is a committed test CA's
key (re-issued under another name or serial too), a CRL that a committed test CA key signed,
and an issuer directory that lists a committed card's certificate. A copy of the fixtures in
another folder, or the repository's own files named by an absolute path, are refused alike.

`committed_test_issuer.json` beside this module holds the committed CAs' public keys and the
committed directory's certificates. `make fixtures` rewrites it (`python -m
qualification_server.trust.test_material fixtures/issuer`), and a test checks that it
describes the fixtures in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MANIFEST = Path(__file__).with_name("committed_test_issuer.json")
MANIFEST_FORMAT = "onshi-committed-test-issuer/1"


class CommittedTestMaterial(ValueError):
    """A file holds the committed test issuer's material, refused outside development."""


@dataclass(frozen=True)
class _Known:
    ca_keys: tuple[rsa.RSAPublicKey, ...]
    ca_key_fingerprints: frozenset[str]
    directory_entries: frozenset[tuple[str, int]]


def spki_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's SubjectPublicKeyInfo, hex."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@cache
def _known() -> _Known:
    doc = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if doc.get("format") != MANIFEST_FORMAT:
        raise RuntimeError(f"{MANIFEST} is not a {MANIFEST_FORMAT} manifest")
    keys = []
    fingerprints = set()
    for spki_b64 in doc["ca_public_keys"].values():
        spki = base64.b64decode(spki_b64)
        key = serialization.load_der_public_key(spki)
        if not isinstance(key, rsa.RSAPublicKey):
            raise RuntimeError(f"{MANIFEST}: a test CA key is not RSA")
        keys.append(key)
        fingerprints.add(hashlib.sha256(spki).hexdigest())
    entries = frozenset(
        (x509.Name.from_rfc4514_string(issuer).rfc4514_string(), int(serial))
        for issuer, serial in doc["directory_certificates"]
    )
    return _Known(tuple(keys), frozenset(fingerprints), entries)


def refuse_test_ca(certificate: x509.Certificate, source: str) -> None:
    """Raise `CommittedTestMaterial` if the certificate holds a committed test CA key."""
    if spki_fingerprint(certificate) in _known().ca_key_fingerprints:
        raise CommittedTestMaterial(
            f"{source} holds the committed test CA's key "
            f"({certificate.subject.rfc4514_string()}), whose private key is public"
        )


def refuse_test_crl(crl: x509.CertificateRevocationList, source: str) -> None:
    """Raise `CommittedTestMaterial` if a committed test CA key signed the CRL."""
    for key in _known().ca_keys:
        try:
            signed = crl.is_signature_valid(key)
        except (UnsupportedAlgorithm, ValueError, TypeError):
            signed = False
        if signed:
            raise CommittedTestMaterial(f"{source} is a CRL signed by the committed test CA")


def refuse_test_directory(entries: dict[tuple[str, int], str], source: str) -> None:
    """Raise `CommittedTestMaterial` if the directory lists a committed card's certificate."""
    if not _known().directory_entries.isdisjoint(entries):
        raise CommittedTestMaterial(
            f"{source} is the committed test issuer's directory (it lists its test cards)"
        )


def describe(issuer_dir: Path) -> dict[str, object]:
    """The manifest of an issuer folder made by `card-reader issue`."""
    keys = {}
    for pem in sorted((issuer_dir / "ca").glob("*_ca.pem")):
        certificate = x509.load_pem_x509_certificate(pem.read_bytes())
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keys[pem.stem] = base64.b64encode(spki).decode("ascii")
    directory = json.loads((issuer_dir / "directory.json").read_text(encoding="utf-8"))
    certificates = sorted(
        [entry.get("issuer", directory["issuer"]), str(entry["serial"])]
        for entry in directory["certificates"]
    )
    return {
        "format": MANIFEST_FORMAT,
        "about": "the committed test issuer (fixtures/issuer), refused outside development",
        "ca_public_keys": keys,
        "directory_certificates": certificates,
    }


def main(argv: list[str]) -> int:
    """`python -m qualification_server.trust.test_material ISSUER_DIR`: rewrite the manifest."""
    if len(argv) != 1:
        print("usage: python -m qualification_server.trust.test_material ISSUER_DIR")
        return 2
    MANIFEST.write_text(json.dumps(describe(Path(argv[0])), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
