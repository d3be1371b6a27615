"""The card reader at the front desk: its state for the screen, and a session with the card.

A pcscd that goes away (restart, crash) shows as "no service" and is picked up again by
itself: every poll goes through `PcscReaders`, which re-establishes its context.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from card_reader.core.errors import CardError, NoReader, ReaderUnavailable
from card_reader.core.jpki import JpkiSession
from card_reader.transports.pcsc import PcscReaders


class ReaderState(StrEnum):
    NO_SERVICE = "no-service"  # pcscd is not running
    NO_READER = "no-reader"
    EMPTY = "empty"
    CARD = "card"


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    state: ReaderState
    reader: str | None = None
    insertion: int = 0  # counts insertions, so the screen can tell a new card from the old


class FrontDeskReader:
    """One reader (or the first with a card). Thread-safe: PC/SC calls are serialised."""

    def __init__(self, reader: str | None = None) -> None:
        self._wanted = reader
        self._pcsc = PcscReaders()
        self._lock = threading.Lock()
        self._insertions = 0
        self._last = ReaderState.NO_READER

    def status(self) -> ReaderStatus:
        """Poll the reader state now."""
        with self._lock:
            try:
                names = self._pcsc.readers()
                if self._wanted is not None:
                    names = [n for n in names if n == self._wanted]
                if not names:
                    return self._note(ReaderStatus(ReaderState.NO_READER))
                for name in names:
                    if self._pcsc.card_present(name):
                        return self._note(ReaderStatus(ReaderState.CARD, name))
                return self._note(ReaderStatus(ReaderState.EMPTY, names[0]))
            except ReaderUnavailable:
                return self._note(ReaderStatus(ReaderState.NO_SERVICE))

    def _note(self, status: ReaderStatus) -> ReaderStatus:
        if status.state is ReaderState.CARD and self._last is not ReaderState.CARD:
            self._insertions += 1
        self._last = status.state
        return ReaderStatus(status.state, status.reader, self._insertions)

    @contextlib.contextmanager
    def jpki(self, timeout_s: float = 1.0) -> Iterator[JpkiSession]:
        """A JPKI session with the card in the reader. Raises `NoReader`, `NoCard`,
        `CardRemoved`, `ReaderUnavailable` (all `CardError`)."""
        with self._lock:
            reader = self._pcsc.wait_for_card(self._wanted, timeout_s)
            connection = self._pcsc.connect(reader)
        try:
            yield JpkiSession(connection)
        finally:
            with contextlib.suppress(CardError):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._pcsc.close()


__all__ = ["CardError", "FrontDeskReader", "NoReader", "ReaderState", "ReaderStatus"]
