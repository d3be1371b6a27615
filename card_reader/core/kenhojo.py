"""The 券面事項入力補助AP (card-face information for data entry): docs/card.md.

Behind its own 4-digit PIN (EF 0011, usually set to the same value as the JPKI auth PIN) it
holds the My Number (EF 0001) and the 基本4情報: name, address, birth date, sex (EF 0002).
The registration flow reads them; nothing here logs or keeps them.

File layout (unconfirmed, as read by open-source readers of real cards): EF 0001 holds a TLV
with tag 10 and the 12 ASCII digits; EF 0002 holds one constructed TLV `FF 20` whose values
are DF21 (a header), DF22 name, DF23 address, DF24 birth date `YYYYMMDD`, DF25 sex code, all
UTF-8. Padding after the record, and `FF` bytes before the My Number's, are skipped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from card_reader.core.errors import MalformedResponse
from card_reader.core.iso7816 import MAX_EF_BYTES, IsoChannel
from card_reader.core.jpki import validate_auth_pin
from card_reader.core.tlv import TlvError, encode_tlv, first_tlv, iter_tlvs, parse_header
from onshi_kernel.mynumber import InvalidMyNumber, validate_my_number

if TYPE_CHECKING:
    from card_reader.core.connection import CardConnection

AID_KENHOJO = bytes.fromhex("D3921000310001010408")

TAG_MY_NUMBER = 0x10
TAG_BASIC_INFO = 0xFF20
TAG_HEADER, TAG_NAME, TAG_ADDRESS, TAG_BIRTH_DATE, TAG_SEX = 0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25
MY_NUMBER_FILE_SIZE = 17
BASIC_INFO_HEADER_PROBE = 5  # FF 20 82 LL LL at most


class KenhojoFile(IntEnum):
    """Elementary files of the 券面事項入力補助AP."""

    MY_NUMBER = 0x0001
    BASIC_INFO = 0x0002
    PIN = 0x0011


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """基本4情報 as the card holds them. `repr` hides them so they never reach a log."""

    name: str = field(repr=False)
    address: str = field(repr=False)
    birth_date: dt.date = field(repr=False)
    sex: str = field(repr=False)  # "1" male, "2" female, "3" unset (Sex1 codes, docs/answer.md)

    def encode(self) -> bytes:
        """The EF 0002 content for these facts (used to personalise emulated cards)."""
        inner = b"".join(
            (
                encode_tlv(TAG_HEADER, bytes(3)),
                encode_tlv(TAG_NAME, self.name.encode("utf-8")),
                encode_tlv(TAG_ADDRESS, self.address.encode("utf-8")),
                encode_tlv(TAG_BIRTH_DATE, _yyyymmdd(self.birth_date)),
                encode_tlv(TAG_SEX, self.sex.encode("ascii")),
            )
        )
        return encode_tlv(TAG_BASIC_INFO, inner)

    @classmethod
    def decode(cls, content: bytes) -> BasicInfo:
        """Parse EF 0002. Raises `MalformedResponse`, whose text names the part that is
        wrong and never holds a value (the values are a person's name, address, birthday)."""
        try:
            tag, value = first_tlv(content)
            fields = dict(iter_tlvs(value))
        except TlvError as exc:
            raise MalformedResponse(f"basic information is malformed: {exc}") from None
        if tag != TAG_BASIC_INFO:
            raise MalformedResponse(f"basic information: expected tag FF20, got {tag:X}")
        missing = [f"{t:X}" for t in _BASIC_INFO_TAGS if t not in fields]
        if missing:
            raise MalformedResponse(f"basic information: no {', '.join(missing)}")
        return cls(
            name=_text(fields, TAG_NAME, "utf-8"),
            address=_text(fields, TAG_ADDRESS, "utf-8"),
            birth_date=_date(fields[TAG_BIRTH_DATE]),
            sex=_text(fields, TAG_SEX, "ascii"),
        )


_BASIC_INFO_TAGS = (TAG_NAME, TAG_ADDRESS, TAG_BIRTH_DATE, TAG_SEX)


def _yyyymmdd(day: dt.date) -> bytes:
    # Not strftime("%Y"): glibc writes year 1 as "1", not "0001".
    return f"{day.year:04d}{day.month:02d}{day.day:02d}".encode("ascii")


def _text(fields: dict[int, bytes], tag: int, encoding: str) -> str:
    try:
        return fields[tag].decode(encoding)
    except UnicodeDecodeError:
        # Not `exc`: a UnicodeDecodeError holds the bytes, here a name or an address.
        raise MalformedResponse(f"basic information: {tag:X} is not {encoding}") from None


def _date(value: bytes) -> dt.date:
    """`YYYYMMDD` in ASCII digits."""
    if len(value) != 8 or not value.isdigit():
        raise MalformedResponse(f"basic information: {TAG_BIRTH_DATE:X} is not YYYYMMDD")
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise MalformedResponse(
            f"basic information: {TAG_BIRTH_DATE:X} is not a calendar date"
        ) from None


def encode_my_number(my_number: str) -> bytes:
    """The EF 0001 content for a My Number (used to personalise emulated cards)."""
    return encode_tlv(TAG_MY_NUMBER, validate_my_number(my_number).encode("ascii"))


def decode_my_number(content: bytes) -> str:
    """Parse EF 0001. Raises `MalformedResponse` (whose text never holds the digits)."""
    try:
        tag, value = first_tlv(content.lstrip(b"\xff"))
        if tag != TAG_MY_NUMBER:
            raise MalformedResponse(f"My Number: expected tag 10, got {tag:X}")
        return validate_my_number(value.decode("ascii"))
    except (TlvError, UnicodeDecodeError, InvalidMyNumber, ValueError) as exc:
        raise MalformedResponse(f"the My Number file is malformed: {type(exc).__name__}") from None


class KenhojoSession:
    """A session with the 券面事項入力補助AP. The constructor selects it."""

    def __init__(self, connection: CardConnection) -> None:
        self._iso = IsoChannel(connection)
        self._iso.select_application(AID_KENHOJO)

    def pin_tries_left(self) -> int:
        """Tries left for this application's PIN, without spending one."""
        self._iso.select_file(KenhojoFile.PIN)
        return self._iso.tries_left()

    def verify_pin(self, pin: str) -> None:
        """VERIFY the PIN. Raises `PinError(tries_left)` or `PinBlocked`."""
        secret = validate_auth_pin(pin)
        self._iso.select_file(KenhojoFile.PIN)
        self._iso.verify(secret)

    def read_my_number(self) -> str:
        """The holder's My Number (needs `verify_pin`). Handle it as a secret."""
        self._iso.select_file(KenhojoFile.MY_NUMBER)
        return decode_my_number(self._iso.read_file(MY_NUMBER_FILE_SIZE))

    def read_basic_info(self) -> BasicInfo:
        """The holder's 基本4情報 (needs `verify_pin`)."""
        self._iso.select_file(KenhojoFile.BASIC_INFO)
        probe = self._iso.read_binary(0, BASIC_INFO_HEADER_PROBE)
        try:
            size = parse_header(probe).total_length
        except TlvError as exc:
            raise MalformedResponse(f"basic information header: {exc}") from None
        if size > MAX_EF_BYTES:
            raise MalformedResponse(
                f"basic information header claims {size} bytes, larger than an EF ({MAX_EF_BYTES})"
            )
        return BasicInfo.decode(self._iso.read_file(size))
