"""PC/SC through pyscard's `scard` layer: the only module that imports pyscard.

`PcscReaders` lists readers and waits for cards; `PcscConnection` carries APDUs to one card.
A PC/SC context that dies with pcscd is dropped and re-established on the next call, so a
long-running front desk recovers from a pcscd restart by itself.
"""

from __future__ import annotations

import logging
import time

from smartcard import scard

from card_reader.core.apdu import redact_apdu
from card_reader.core.errors import CardError, CardRemoved, NoCard, NoReader, ReaderUnavailable

log = logging.getLogger(__name__)

_SERVICE_GONE = frozenset(
    {
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_E_UNKNOWN_READER,
    }
)
_CARD_GONE = frozenset(
    {
        scard.SCARD_W_REMOVED_CARD,
        scard.SCARD_E_NO_SMARTCARD,
        scard.SCARD_W_RESET_CARD,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_W_UNRESPONSIVE_CARD,
    }
)
SCARD_ABSENT = 0x0002  # pcsclite's reader state bit; pyscard does not export it
_POLL_S = 0.25  # longest single wait, so a dead pcscd or a new reader is noticed quickly


def _describe(code: int) -> str:
    return f"{scard.SCardGetErrorMessage(code)} (0x{code & 0xFFFFFFFF:08X})"


class PcscReaders:
    """The PC/SC readers of this machine, through one (re-established) context."""

    def __init__(self) -> None:
        self._context: int | None = None

    def _ctx(self) -> int:
        if self._context is None:
            code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if code != scard.SCARD_S_SUCCESS:
                raise ReaderUnavailable(f"the PC/SC service is not running: {_describe(code)}")
            self._context = context
        return self._context

    def _drop_context(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def readers(self) -> list[str]:
        """Names of the connected readers (empty if none)."""
        code, readers = scard.SCardListReaders(self._ctx(), [])
        if code == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if code in _SERVICE_GONE:
            self._drop_context()
            code, readers = scard.SCardListReaders(self._ctx(), [])
            if code == scard.SCARD_E_NO_READERS_AVAILABLE:
                return []
        if code != scard.SCARD_S_SUCCESS:
            self._drop_context()
            raise ReaderUnavailable(f"cannot list readers: {_describe(code)}")
        return list(readers)

    def card_present(self, reader: str) -> bool:
        """Whether a card sits in `reader` right now."""
        return bool(self._states([reader], 0).get(reader, 0) & scard.SCARD_STATE_PRESENT)

    def _states(self, readers: list[str], timeout_ms: int) -> dict[str, int]:
        states = [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
        code, new_states = scard.SCardGetStatusChange(self._ctx(), timeout_ms, states)
        if code in _SERVICE_GONE:
            self._drop_context()
            raise ReaderUnavailable(f"the PC/SC service went away: {_describe(code)}")
        if code not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise ReaderUnavailable(f"cannot read reader states: {_describe(code)}")
        return {name: state for name, state, _atr in new_states}

    def wait_for_card(self, reader: str | None = None, timeout_s: float = 10.0) -> str:
        """Wait until a card is in `reader` (or in any reader); return that reader's name.

        Raises `NoReader` if there is no reader at all, `NoCard` on timeout, and
        `ReaderUnavailable` if pcscd is not running. Survives a pcscd restart while waiting.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                names = self.readers()
                if reader is not None:
                    if reader not in names:
                        raise NoReader(f"no reader named {reader!r} (readers: {names or 'none'})")
                    names = [reader]
                if not names:
                    raise NoReader("no card reader is connected")
                for name, state in self._states(names, 0).items():
                    if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                        return name
            except ReaderUnavailable:
                if time.monotonic() >= deadline:
                    raise
            if time.monotonic() >= deadline:
                raise NoCard(reader, timeout_s)
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    def wait_for_removal(self, reader: str, timeout_s: float = 10.0) -> bool:
        """Wait until `reader` is empty; True if it is, False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.card_present(reader):
                return True
            time.sleep(0.05)
        return not self.card_present(reader)

    def connect(self, reader: str) -> PcscConnection:
        """Connect to the card in `reader` (shared mode, T=0 or T=1)."""
        code, handle, protocol = scard.SCardConnect(
            self._ctx(),
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if code in _CARD_GONE:
            raise CardRemoved(reader)
        if code in _SERVICE_GONE:
            self._drop_context()
            raise ReaderUnavailable(f"cannot connect to {reader!r}: {_describe(code)}")
        if code != scard.SCARD_S_SUCCESS:
            raise CardError(f"cannot connect to the card in {reader!r}: {_describe(code)}")
        return PcscConnection(reader, handle, protocol)

    def close(self) -> None:
        self._drop_context()


class PcscConnection:
    """A `CardConnection` to the card in one PC/SC reader."""

    def __init__(self, reader: str, handle: int, protocol: int) -> None:
        self.reader = reader
        self._handle: int | None = handle
        self._protocol = protocol
        self.apdu_count = 0

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self._handle is None:
            raise CardRemoved(self.reader)
        self.apdu_count += 1
        code, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        if code != scard.SCARD_S_SUCCESS:
            log.debug("transmit %s failed: %s", redact_apdu(apdu), _describe(code))
            if code in _CARD_GONE:
                self._handle = None
                raise CardRemoved(self.reader)
            if code in _SERVICE_GONE:
                self._handle = None
                raise ReaderUnavailable(f"the reader went away: {_describe(code)}")
            raise CardError(f"transmit failed: {_describe(code)}")
        if len(response) < 2:
            # vpcd (and some readers) answer a transmit to a card pulled mid-command with
            # success and no bytes: ask the reader whether the card is still there.
            if not self._card_still_there():
                self._handle = None
                raise CardRemoved(self.reader)
            raise CardError(f"the reader returned {len(response)} bytes, no status word")
        sw = (response[-2] << 8) | response[-1]
        log.debug("%s -> %d bytes, SW %04X", redact_apdu(apdu), len(response) - 2, sw)
        return bytes(response[:-2]), sw

    def _card_still_there(self, settle_s: float = 1.0) -> bool:
        """Whether the card stays in the reader for `settle_s` (pcscd notices a removal at
        its next poll, up to ~0.4 s later)."""
        deadline = time.monotonic() + settle_s
        while self._handle is not None:
            code, _reader, state, _protocol, _atr = scard.SCardStatus(self._handle)
            if code != scard.SCARD_S_SUCCESS or state & SCARD_ABSENT:
                return False
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        if self._handle is not None:
            scard.SCardDisconnect(self._handle, scard.SCARD_LEAVE_CARD)
            self._handle = None
