"""A connection straight to an `EmulatedCard` in this process: fast tests, no reader stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from card_reader.core.errors import CardRemoved

if TYPE_CHECKING:
    from card_reader.emulator.card import EmulatedCard


class InProcessConnection:
    """Implements `CardConnection` over an emulated card. `remove()` pulls the card."""

    def __init__(self, card: EmulatedCard) -> None:
        self._card: EmulatedCard | None = card
        card.reset()
        self.apdu_count = 0

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self._card is None:
            raise CardRemoved()
        self.apdu_count += 1
        response = self._card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def remove(self) -> None:
        """Take the card out: every later command raises `CardRemoved`."""
        self._card = None

    def close(self) -> None:
        self._card = None
