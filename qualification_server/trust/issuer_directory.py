"""Who a certificate belongs to: the card issuer's directory (J-LIS's role, docs/domain.md).

The directory maps an auth certificate (issuer + serial) to the person reference the insurer
registry also knows: a card's, under the directory's issuer, and a smartphone's, whose entry
names the smartphones' CA. Here it is the issuer's `directory.json` (written by `card-reader
issue`), reloaded when it changes; a deployment would put an online service behind the same
`IssuerDirectory` protocol.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from cryptography import x509

from qualification_server.trust.file_stamps import FileStamp, file_stamp
from qualification_server.trust.test_material import refuse_test_directory

log = logging.getLogger(__name__)


DIRECTORY_FORMAT = "onshi-issuer-directory/1"


class IssuerDirectory(Protocol):
    def person_of(self, issuer: str, serial: int) -> str | None:
        """The person reference of this certificate (its issuer as an RFC 4514 string, as
        the directory's file names it), or None if the issuer never issued it."""
        ...


class IssuerDirectoryError(RuntimeError):
    """The directory file cannot be read."""


def parse_directory(text: str) -> dict[tuple[str, int], str]:
    """(issuer, serial) → person reference, from a directory file's text."""
    doc = json.loads(text)
    if doc.get("format") != DIRECTORY_FORMAT:
        raise IssuerDirectoryError(f"not an issuer directory (format {doc.get('format')!r})")
    issuer = x509.Name.from_rfc4514_string(doc["issuer"]).rfc4514_string()
    return {
        (_issuer_of(e, issuer), int(e["serial"])): str(e["person_ref"]) for e in doc["certificates"]
    }


def _issuer_of(entry: dict[str, object], default: str) -> str:
    """An entry names its issuer when it is not the directory's (a smartphone's CA)."""
    named = entry.get("issuer")
    if named is None:
        return default
    return x509.Name.from_rfc4514_string(str(named)).rfc4514_string()


class FileIssuerDirectory:
    """`IssuerDirectory` over one or more `directory.json` files, reloaded on change."""

    def __init__(
        self,
        paths: list[Path],
        check_interval_s: float = 1.0,
        *,
        refuse_test_material: bool = False,
    ) -> None:
        """`refuse_test_material` (outside development): the committed test issuer's
        directory is refused, at start and at every reload (`trust.test_material`)."""
        self._paths = list(paths)
        self._refuse_test_material = refuse_test_material
        self._interval = check_interval_s
        self._lock = threading.Lock()
        self._stamp: FileStamp = ()
        self._entries: dict[tuple[str, int], str] = {}
        self._checked_at = float("-inf")
        self._refresh()

    def _refresh(self) -> None:
        stamp = file_stamp(self._paths)
        if stamp == self._stamp:
            return
        entries: dict[tuple[str, int], str] = {}
        for path in self._paths:
            try:
                parsed = parse_directory(path.read_text(encoding="utf-8"))
                if self._refuse_test_material:
                    refuse_test_directory(parsed, str(path))
                entries.update(parsed)
            except (OSError, ValueError, KeyError, TypeError, IssuerDirectoryError) as exc:
                if not self._entries and not entries:
                    raise IssuerDirectoryError(f"cannot read {path}: {exc}") from exc
                log.error("keeping the previous issuer directory: %s: %s", path, exc)
                return
        self._entries, self._stamp = entries, stamp

    def person_of(self, issuer: str, serial: int) -> str | None:
        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            with self._lock:
                self._checked_at = now
                self._refresh()
        return self._entries.get((issuer, serial))
