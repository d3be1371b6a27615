"""The one seam between protocol code and hardware: something that carries APDUs."""

from __future__ import annotations

from typing import Protocol


class CardConnection(Protocol):
    """A channel to one card. Transports (PC/SC, the in-process emulator) implement this.

    `send_and_receive` takes a whole command APDU and returns the response data and the
    status word. It raises `CardRemoved` when the card left, `ReaderUnavailable` when the
    reader stack went away.
    """

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]: ...

    def close(self) -> None: ...
