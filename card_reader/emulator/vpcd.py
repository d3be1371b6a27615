"""Insert an emulated card into a real pcscd through vsmartcard's vpcd driver.

pcscd listens (35963 for `Virtual PCD 00 00`, 35964 for `00 01`); the card connects as a TCP
client, and an open connection is a card in the slot. Frames both ways: a 2-byte big-endian
length, then the payload. A 1-byte payload is a control message: 00 power off, 01 power on,
02 reset (no reply), 04 get ATR (reply: the ATR). Anything longer is a command APDU, answered
with the response APDU. See docs/card.md (the emulated card through pcscd).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from enum import IntEnum
from typing import TYPE_CHECKING

from card_reader.core.apdu import SW, redact_apdu

if TYPE_CHECKING:
    from card_reader.emulator.card import EmulatedCard

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_BASE_PORT = 35963  # slot n listens on 35963 + n
VPCD_READER_PREFIX = "Virtual PCD 00 0"


class Control(IntEnum):
    POWER_OFF = 0x00
    POWER_ON = 0x01
    RESET = 0x02
    GET_ATR = 0x04


def vpcd_port(slot: int) -> int:
    """The TCP port pcscd's vpcd driver listens on for `slot`."""
    if not 0 <= slot <= 9:
        raise ValueError(f"vpcd slot must be 0-9, got {slot}")
    return VPCD_BASE_PORT + slot


def vpcd_reader_name(slot: int) -> str:
    """The PC/SC reader name pcscd gives the vpcd `slot` (`Virtual PCD 00 00`, …)."""
    return f"{VPCD_READER_PREFIX}{slot}"


class VpcdCardSocket:
    """The card's end of one vpcd connection: insert on `connect`, remove on `close`."""

    def __init__(self, card: EmulatedCard, slot: int = 0, host: str = VPCD_HOST) -> None:
        self.card = card
        self.slot = slot
        self._address = (host, vpcd_port(slot))
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.apdu_count = 0

    def connect(self, timeout_s: float = 5.0) -> None:
        """Open the connection (the card enters the slot). Raises OSError if pcscd is not
        listening there."""
        sock = socket.create_connection(self._address, timeout=timeout_s)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def serve_forever(self) -> None:
        """Answer pcscd until it closes the connection or `close` is called."""
        sock = self._sock
        if sock is None:
            raise RuntimeError("connect() first")
        try:
            while not self._closing.is_set():
                payload = _recv_frame(sock)
                if payload is None:
                    return
                reply = self._handle(payload)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            if not self._closing.is_set():
                raise
        finally:
            self._closing.set()

    def start(self) -> None:
        """Connect and serve in a daemon thread."""
        if self._sock is None:
            self.connect()
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"vpcd-slot-{self.slot}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Remove the card: close the connection and wait for the serving thread."""
        self._closing.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):  # pcscd closed it first: the card is out anyway
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _handle(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            control = payload[0]
            if control == Control.GET_ATR:
                return self.card.atr
            if control in (Control.POWER_ON, Control.RESET, Control.POWER_OFF):
                self.card.reset()
                return None
            log.warning("unknown vpcd control message %02X", control)
            return None
        self.apdu_count += 1
        try:
            return self.card.process(payload)
        except Exception:
            # A card never crashes: answer 6F00 and keep serving. Tests of `process` itself
            # (tests/card_reader/test_emulator_fuzz.py) make sure this path stays unused.
            log.exception("emulated card failed on %s", redact_apdu(payload))
            return SW.NO_PRECISE_DIAGNOSIS.to_bytes(2, "big")


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        # vpcd sends the length and the payload in two writes; without QUICKACK, Nagle on its
        # side and delayed ACK on ours cost ~44 ms per APDU (PCSC_NOTES.md).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv_frame(sock: socket.socket) -> bytes | None:
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _recv_exact(sock, length) if length else b""
