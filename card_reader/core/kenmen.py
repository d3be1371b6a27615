"""The 券面AP (券面事項確認AP: the card face as data), docs/card.md.

It holds what is printed on the card's front: the birth date, the sex, images of the name and
the address, the face photo (JPEG 2000), the card's expiry and its security code, signed by the
issuer. EF 0002 opens to either of two 照合番号: A (EF 0013) is the 12-digit My Number, B (EF
0012) is the birth date in 和暦 `YYMMDD`, the card's expiry year and the 4-digit security code,
as a face reader reads them off the card (`pin_b`). Nothing here logs or keeps the values.

Layout of EF 0002, as open-source readers of physical cards read it: one TLV `FF 20` holding
DF21 (the items' offsets from the start of the file) [chosen], DF22 birth date `YYYYMMDD`, DF23
sex code, DF24 the issuer key's identifier [chosen], DF25 the name image, DF26 the address
image (1-bit PNG), DF27 the face photo (JPEG 2000), DF28 the issuer's RSA signature (PKCS#1
v1.5 over a DigestInfo holding three SHA-256 digests: of DF22–DF24, of DF25–DF26, of DF27),
DF29 the card's expiry `YYYYMMDD`, DF2A the security code's image; then `FF` padding to the
file's size. DF29 and DF2A are not signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from card_reader.core.errors import MalformedResponse
from card_reader.core.iso7816 import MAX_EF_BYTES, IsoChannel
from card_reader.core.tlv import (
    TlvError,
    encode_indexed,
    encode_tlv,
    first_tlv,
    iter_tlvs,
    parse_header,
)
from onshi_kernel.japan_time import era_of, parse_yyyymmdd, yyyymmdd
from onshi_kernel.mynumber import validate_my_number

if TYPE_CHECKING:
    from card_reader.core.connection import CardConnection

AID_KENMEN = bytes.fromhex("D3921000310001010402")

TAG_FACE = 0xFF20
(
    TAG_HEADER,
    TAG_BIRTH_DATE,
    TAG_SEX,
    TAG_KEY_ID,
    TAG_NAME_IMAGE,
    TAG_ADDRESS_IMAGE,
    TAG_PHOTO,
    TAG_SIGNATURE,
    TAG_EXPIRY,
    TAG_SECURITY_CODE,
) = range(0xDF21, 0xDF2B)
SHA256_ALGORITHM = bytes.fromhex("300D06096086480165030402010500")  # AlgorithmIdentifier
FACE_FILE_SIZE = 0x2000  # [chosen]: room for the images this project generates
FACE_HEADER_PROBE = 5  # FF 20 82 LL LL
SECURITY_CODE_LENGTH = 4


class KenmenFile(IntEnum):
    """Elementary files of the 券面AP."""

    FACE = 0x0002
    PIN_B = 0x0012  # 照合番号B: 和暦 birth date YYMMDD + card expiry year + security code
    PIN_A = 0x0013  # 照合番号A: the My Number


def pin_b(birth_date: dt.date, card_expiry: dt.date, security_code: str) -> str:
    """照合番号B as the card takes it, 14 digits: the birth date as 和暦 `YYMMDD` (the year
    within its era), the card's expiry year `YYYY`, the 4-digit security code."""
    if len(security_code) != SECURITY_CODE_LENGTH or not security_code.isdigit():
        raise ValueError("the security code is 4 digits")
    _, era_year = era_of(birth_date)
    birth = f"{era_year:02d}{birth_date.month:02d}{birth_date.day:02d}"
    return f"{birth}{card_expiry.year:04d}{security_code}"


@dataclass(frozen=True, slots=True)
class CardFace:
    """The card face as the 券面AP holds it. `repr` hides the values."""

    birth_date: dt.date = field(repr=False)
    sex: str = field(repr=False)
    key_id: bytes = field(repr=False)
    name_image: bytes = field(repr=False)
    address_image: bytes = field(repr=False)
    photo: bytes = field(repr=False)  # JPEG 2000
    expiry: dt.date = field(repr=False)
    security_code_image: bytes = field(repr=False)
    signature: bytes = field(default=b"", repr=False)

    def _signed_items(self) -> list[bytes]:
        """DF22–DF27 as encoded: what the issuer's signature covers."""
        return [
            encode_tlv(TAG_BIRTH_DATE, yyyymmdd(self.birth_date).encode("ascii")),
            encode_tlv(TAG_SEX, self.sex.encode("ascii")),
            encode_tlv(TAG_KEY_ID, self.key_id),
            encode_tlv(TAG_NAME_IMAGE, self.name_image),
            encode_tlv(TAG_ADDRESS_IMAGE, self.address_image),
            encode_tlv(TAG_PHOTO, self.photo),
        ]

    def signed_digest_info(self) -> bytes:
        """What the issuer's signature (DF28) is over: a SHA-256 DigestInfo whose digest is
        three digests, of DF22–DF24, of DF25–DF26 and of DF27."""
        items = self._signed_items()
        parts = (b"".join(items[:3]), b"".join(items[3:5]), items[5])
        digests = b"".join(hashlib.sha256(part).digest() for part in parts)
        return encode_tlv(0x30, SHA256_ALGORITHM + encode_tlv(0x04, digests))

    def encode(self) -> bytes:
        """The EF 0002 content (used to personalise emulated cards)."""
        items = [
            *self._signed_items(),
            encode_tlv(TAG_SIGNATURE, self.signature),
            encode_tlv(TAG_EXPIRY, yyyymmdd(self.expiry).encode("ascii")),
            encode_tlv(TAG_SECURITY_CODE, self.security_code_image),
        ]
        return encode_indexed(TAG_FACE, TAG_HEADER, items)

    @classmethod
    def decode(cls, content: bytes) -> CardFace:
        """Parse EF 0002. Raises `MalformedResponse` naming the part (never a value)."""
        try:
            tag, value = first_tlv(content)
            fields = dict(iter_tlvs(value))
        except TlvError as exc:
            raise MalformedResponse(f"the card face is malformed: {exc}") from None
        if tag != TAG_FACE:
            raise MalformedResponse(f"the card face: expected tag FF20, got {tag:X}")
        wanted = range(TAG_BIRTH_DATE, TAG_SECURITY_CODE + 1)
        missing = [f"{t:X}" for t in wanted if t not in fields]
        if missing:
            raise MalformedResponse(f"the card face: no {', '.join(missing)}")
        try:
            return cls(
                birth_date=parse_yyyymmdd(fields[TAG_BIRTH_DATE].decode("ascii")),
                sex=fields[TAG_SEX].decode("ascii"),
                key_id=fields[TAG_KEY_ID],
                name_image=fields[TAG_NAME_IMAGE],
                address_image=fields[TAG_ADDRESS_IMAGE],
                photo=fields[TAG_PHOTO],
                signature=fields[TAG_SIGNATURE],
                expiry=parse_yyyymmdd(fields[TAG_EXPIRY].decode("ascii")),
                security_code_image=fields[TAG_SECURITY_CODE],
            )
        except (UnicodeDecodeError, ValueError):
            raise MalformedResponse("the card face: a date or the sex is not text") from None


class KenmenSession:
    """A session with the 券面AP. The constructor selects it (`ApplicationNotFound` if the
    card has none, as a smartphone has not)."""

    def __init__(self, connection: CardConnection) -> None:
        self._iso = IsoChannel(connection)
        self._iso.select_application(AID_KENMEN)

    def pin_statuses(self) -> dict[str, int]:
        """Tries left for 照合番号A and B, by EF, without spending one."""
        out = {}
        for fid in (KenmenFile.PIN_A, KenmenFile.PIN_B):
            self._iso.select_file(fid)
            out[f"{fid:04X}"] = self._iso.tries_left()
        return out

    def verify_pin_a(self, my_number: str) -> None:
        """VERIFY 照合番号A (the My Number). Raises `PinError` or `PinBlocked`."""
        self._iso.select_file(KenmenFile.PIN_A)
        self._iso.verify(validate_my_number(my_number).encode("ascii"))

    def verify_pin_b(self, birth_date: dt.date, card_expiry: dt.date, security_code: str) -> None:
        """VERIFY 照合番号B (what a face reader reads off the card)."""
        self._iso.select_file(KenmenFile.PIN_B)
        self._iso.verify(pin_b(birth_date, card_expiry, security_code).encode("ascii"))

    def read_face(self) -> CardFace:
        """The card face (needs 照合番号A or B)."""
        self._iso.select_file(KenmenFile.FACE)
        probe = self._iso.read_binary(0, FACE_HEADER_PROBE)
        try:
            size = parse_header(probe).total_length
        except TlvError as exc:
            raise MalformedResponse(f"the card face header: {exc}") from None
        if size > MAX_EF_BYTES:
            raise MalformedResponse(f"the card face header claims {size} bytes")
        return CardFace.decode(self._iso.read_file(size))
