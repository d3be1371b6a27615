"""What a server outside development refuses to start with: the committed test issuer's
files, wherever they lie (`test_material` recognises them by content). The trust store and
the issuer directory check their files again at every reload."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm

from qualification_server.trust.files import read_certificates, read_crl
from qualification_server.trust.issuer_directory import parse_directory
from qualification_server.trust.test_material import (
    CommittedTestMaterial,
    refuse_test_ca,
    refuse_test_crl,
    refuse_test_directory,
)


def refuse_test_files(kind: Literal["ca", "crl", "directory"], paths: list[Path]) -> None:
    """Refuse any of these CA, CRL or issuer-directory files that holds committed test
    material.

    A file that cannot be read or parsed is left to its loader, which reports it (the trust
    store and the issuer directory check their files again at every reload)."""
    for path in paths:
        try:
            if kind == "ca":
                for certificate in read_certificates(path):
                    refuse_test_ca(certificate, str(path))
            elif kind == "crl":
                refuse_test_crl(read_crl(path), str(path))
            else:
                refuse_test_directory(parse_directory(path.read_text(encoding="utf-8")), str(path))
        except CommittedTestMaterial:
            raise
        except (OSError, UnsupportedAlgorithm, ValueError, TypeError, KeyError):
            continue
