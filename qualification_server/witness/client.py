"""A client of a tlog-witness (https://c2sp.org/tlog-witness), for the log's sealer: submit a
signed checkpoint with its consistency proof and get the witness's cosignature lines, or the
reason it refused. Also the two read routes of this project's witness."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from onshi_kernel.transparency.checkpoint import WitnessVerifier
from onshi_kernel.transparency.note import NoteError, split_note

SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DASH = "— "


class WitnessError(Exception):
    """The witness did not cosign."""


class WitnessConflict(WitnessError):
    """409 with the witness's size: `old_size` was not the size it last cosigned for this
    log. Retry with a consistency proof from `size`."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness last cosigned size {size}")
        self.size = size


class WitnessRefused(WitnessError):
    """The witness refused the checkpoint: `status` is its HTTP status (403 a signature it
    does not trust, 404 an origin it does not witness, 409 the same size with another root,
    422 a proof that does not verify, 400 a malformed request), `reason` its text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class WitnessUnavailable(WitnessError):
    """The witness could not be reached or failed on its side (a connection error, a
    timeout, a 5xx): nothing is known about what it recorded; the same request may be
    retried."""


def _trimmed(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


class WitnessClient:
    """One witness at `base_url`. With `verifier` (the witness's cosignature key), only
    lines by that key that verify over the note are returned, as the spec asks a client to
    ignore unknown keys; without it, every line the witness answered."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 5.0,
        *,
        verifier: WitnessVerifier | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verifier = verifier
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> WitnessClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise WitnessUnavailable(f"{self.base_url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise WitnessUnavailable(
                f"{self.base_url}: {response.status_code}: {_trimmed(response.text)}"
            )
        return response

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> list[str]:
        """The witness's cosignature lines for `note` (each without its newline; see
        `add_cosignatures`), given the size it last cosigned and the consistency proof from
        it. `WitnessConflict`, `WitnessRefused` or `WitnessUnavailable` otherwise."""
        if old_size < 0:
            raise ValueError("the old size is negative")
        body = f"old {old_size}\n" + "".join(
            base64.b64encode(h).decode("ascii") + "\n" for h in proof
        )
        body += "\n" + note
        response = self._send(
            "POST",
            "/add-checkpoint",
            content=body.encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code == 409 and response.headers.get("content-type", "").startswith(
            SIZE_CONTENT_TYPE
        ):
            text = response.text
            if not (text.endswith("\n") and text[:-1].isdigit()):
                raise WitnessRefused(409, f"a conflict with no size: {_trimmed(text)}")
            raise WitnessConflict(int(text[:-1]))
        if response.status_code != 200:
            raise WitnessRefused(response.status_code, _trimmed(response.text))
        lines = response.text.split("\n")
        if lines[-1] != "" or len(lines) < 2 or not all(x.startswith(_DASH) for x in lines[:-1]):
            raise WitnessRefused(200, "the answer is not note signature lines")
        found = lines[:-1]
        if self.verifier is not None:
            found = _verified(note, found, self.verifier)
        return found

    def latest(self, origin: str) -> str | None:
        """The last checkpoint the witness cosigned for `origin` (a note with the log's and
        the witness's signatures), or None when it has none."""
        response = self._send("GET", "/checkpoint", params={"origin": origin})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise WitnessRefused(response.status_code, _trimmed(response.text))
        return response.text

    def alarms(self) -> list[dict[str, Any]]:
        """The witness's alarms: checkpoints it refused as not extending the last one."""
        response = self._send("GET", "/alarms")
        if response.status_code != 200:
            raise WitnessRefused(response.status_code, _trimmed(response.text))
        found = response.json()
        if not isinstance(found, list) or not all(isinstance(a, dict) for a in found):
            raise WitnessRefused(200, "the alarms are not a list of objects")
        return found


def _verified(note: str, lines: Sequence[str], verifier: WitnessVerifier) -> list[str]:
    text, _ = split_note(note)
    message = text.encode()
    kept: list[str] = []
    for line in lines:
        try:
            _, (signature,) = split_note(text + "\n" + line + "\n")
        except (NoteError, ValueError):
            continue
        if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
            continue
        if verifier.verify(message, signature.signature):
            kept.append(line)
    if not kept:
        raise WitnessRefused(200, f"no cosignature by {verifier.name} verifies")
    return kept


def add_cosignatures(note: str, lines: Sequence[str]) -> str:
    """`note` with the signature `lines` added (with or without their newlines); a line by
    a key that already signed the note replaces that key's earlier line. `NoteError` when
    the note or a line is malformed. Nothing is verified here."""
    text, existing = split_note(note)
    new = [line if line.endswith("\n") else line + "\n" for line in lines]
    if not new:
        return note
    _, added = split_note(text + "\n" + "".join(new))
    replaced = {(s.name, s.key_id) for s in added}
    kept = [s for s in existing if (s.name, s.key_id) not in replaced]
    return text + "\n" + "".join(s.line() for s in (*kept, *added))
