"""ISO/IEC 7816-4 short APDUs: command encoding and parsing, status words, log redaction.

Only short APDUs exist here: the JPKI applet speaks nothing else (docs/card.md, commands).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from card_reader.core.errors import MalformedResponse

MAX_SHORT_LC = 255
MAX_SHORT_LE = 256  # encoded as 00


class Ins(IntEnum):
    """Instruction bytes used by the JPKI and 券面事項入力補助 applications."""

    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    PERFORM_SECURITY_OPERATION = 0x2A  # COMPUTE DIGITAL SIGNATURE with CLA 80, P1P2 0080
    SELECT = 0xA4
    READ_BINARY = 0xB0
    GET_RESPONSE = 0xC0


class SW(IntEnum):
    """Status words this project sends or interprets (ISO 7816-4 §5.6; docs/card.md)."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le before the end of the file
    WRONG_LENGTH = 0x6700
    COMMAND_INCOMPATIBLE = 0x6981  # e.g. READ BINARY on a key or PIN file
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984  # JPKI: PIN blocked
    CONDITIONS_NOT_SATISFIED = 0x6985
    NO_CURRENT_EF = 0x6986
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1_P2 = 0x6A86
    OFFSET_OUTSIDE_EF = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


SW1_MORE_DATA = 0x61  # 61 xx: xx more bytes to fetch with GET RESPONSE
SW1_WRONG_LE = 0x6C  # 6C xx: resend with Le = xx
SW_COUNTER_MASK = 0xFFF0
SW_COUNTER = 0x63C0  # 63 Cx: verification failed, x tries left


def tries_left_from_sw(sw: int) -> int | None:
    """The retry counter carried by a `63 Cx` status word, or None for any other word."""
    if sw & SW_COUNTER_MASK == SW_COUNTER:
        return sw & 0x0F
    return None


class MalformedApdu(ValueError):
    """Bytes that are no short command APDU (the card answers 67 00)."""


@dataclass(frozen=True, slots=True)
class CommandApdu:
    """A short command APDU. `le` is the number of bytes expected (1–256), None if none."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be a byte, got {value}")
        if len(self.data) > MAX_SHORT_LC:
            raise ValueError(f"data of {len(self.data)} bytes does not fit a short APDU")
        if self.le is not None and not 1 <= self.le <= MAX_SHORT_LE:
            raise ValueError(f"le must be 1..256, got {self.le}")

    def to_bytes(self) -> bytes:
        """The APDU as sent: header, then Lc and data if any, then Le if any (256 → 00)."""
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le % 256,))
        return out

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandApdu:
        """Parse a short APDU (ISO 7816-3 cases 1–4). Raises `MalformedApdu`."""
        if len(raw) < 4:
            raise MalformedApdu(f"an APDU has at least 4 bytes, got {len(raw)}")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2: Le only
            return cls(cla, ins, p1, p2, le=body[0] or MAX_SHORT_LE)
        lc = body[0]
        if lc == 0:
            raise MalformedApdu("extended-length APDUs are not supported")
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, data=bytes(body[1:-1]), le=body[-1] or MAX_SHORT_LE)
        raise MalformedApdu(f"Lc {lc} does not match the {len(body) - 1} bytes that follow")


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    """A response APDU: data and the status word."""

    data: bytes
    sw: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseApdu:
        """Split what a card answered into data and status word. Raises `MalformedResponse`."""
        if len(raw) < 2:
            raise MalformedResponse(f"a response APDU has at least 2 bytes, got {len(raw)}")
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")


_SECRET_INS = frozenset({Ins.VERIFY, Ins.CHANGE_REFERENCE_DATA})


def redact_apdu(raw: bytes) -> str:
    """Hex of a command APDU for logs, with the data of VERIFY and CHANGE REFERENCE DATA
    (PINs and passwords) replaced by its length."""
    if len(raw) > 5 and raw[1] in _SECRET_INS:
        return f"{raw[:5].hex().upper()} <{len(raw) - 5} bytes redacted>"
    return raw.hex().upper()
