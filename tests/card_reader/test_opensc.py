"""OpenSC, an independent card client, accepts the emulated card as a JPKI card."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.card import EmulatedCard
from tests.support.cards import PIN, InsertedCard

pytestmark = [pytest.mark.pcsc, pytest.mark.opensc]

PKCS11_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
AUTH_TOKEN = "JPKI (User Authentication PIN)"


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert shutil.which(args[0]), f"{args[0]} is missing: `make test` installs opensc"
    return subprocess.run(args, capture_output=True, timeout=60, check=False)


def test_opensc_names_the_jpki_driver(inserted: InsertedCard) -> None:
    result = run("opensc-tool", "--reader", inserted.reader, "--name")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "jpki"


def test_pkcs15_tool_reads_the_auth_certificate_byte_for_byte(
    inserted: InsertedCard, card: EmulatedCard
) -> None:
    result = run("pkcs15-tool", "--reader", inserted.reader, "--read-certificate", "01")
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate(result.stdout)
    assert cert.public_bytes(Encoding.DER) == card.image.jpki_files[JpkiFile.AUTH_CERT]


def test_pkcs11_tool_signs_with_the_pin(
    inserted: InsertedCard, card: EmulatedCard, tmp_path: Path
) -> None:
    message, signature = tmp_path / "message", tmp_path / "signature"
    message.write_bytes(b"signed through OpenSC's PKCS#11 module")
    result = run(
        "pkcs11-tool", "--module", PKCS11_MODULE, "--token-label", AUTH_TOKEN,
        "--login", "--pin", PIN, "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
        "--input-file", str(message), "--output-file", str(signature),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cert = x509.load_der_x509_certificate(card.image.jpki_files[JpkiFile.AUTH_CERT])
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature.read_bytes(), message.read_bytes(), padding.PKCS1v15(), hashes.SHA256())
