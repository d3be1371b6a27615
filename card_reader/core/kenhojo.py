"""The 券面事項入力補助AP (card-face information for data entry): docs/card.md.

Behind its own 4-digit PIN (EF 0011, usually set to the same value as the JPKI auth PIN) it
holds the My Number (EF 0001) and the 基本4情報: name, address, birth date, sex (EF 0002).
The registration flow reads them; nothing here logs or keeps them.

File layout, as open-source readers of physical cards read it (docs/card.md): EF 0001 is 17
bytes, `FF 10 0C` (private tag 16) + the 12 ASCII digits + `FF FF`; EF 0002 holds one TLV
`FF 20` whose values are DF21 (the offsets of the four items from the start of the file),
DF22 name, DF23 address, DF24 birth date `YYYYMMDD`, DF25 sex code, all UTF-8, then `FF`
padding to the file's size. EF 0003 holds the issuer's signature over both (`FF 30`: DF31
SHA-256 of the whole EF 0001, DF32 SHA-256 of EF 0002's items, DF33 the RSA signature), EF
0004 the certificate of the key that made it, EF 0005 the application's information (`FF 40`).
Besides the PIN (EF 0011) the application has two 照合番号: A (EF 0014, the My Number), which
opens EF 0001, and B (EF 0015, birth date + card expiry + security code), which opens EF 0002.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from card_reader.core.cvc import CvcError, decode_cvc
from card_reader.core.errors import MalformedResponse
from card_reader.core.iso7816 import MAX_EF_BYTES, IsoChannel
from card_reader.core.jpki import validate_auth_pin
from card_reader.core.tlv import (
    TlvError,
    encode_indexed,
    encode_tlv,
    first_tlv,
    iter_tlvs,
    parse_header,
)
from onshi_kernel.mynumber import InvalidMyNumber, validate_my_number

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric import rsa

    from card_reader.core.connection import CardConnection

AID_KENHOJO = bytes.fromhex("D3921000310001010408")

TAG_MY_NUMBER = 0xFF10
TAG_BASIC_INFO = 0xFF20
TAG_HEADER, TAG_NAME, TAG_ADDRESS, TAG_BIRTH_DATE, TAG_SEX = 0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25
TAG_SIGNATURE = 0xFF30
TAG_MY_NUMBER_DIGEST, TAG_BASIC_INFO_DIGEST, TAG_SIGNATURE_VALUE = 0xDF31, 0xDF32, 0xDF33
TAG_AP_INFO = 0xFF40
BASIC_INFO_HEADER_PROBE = 5  # FF 20 82 LL LL at most
PADDING = 0xFF


class KenhojoFile(IntEnum):
    """Elementary files of the 券面事項入力補助AP."""

    MY_NUMBER = 0x0001
    BASIC_INFO = 0x0002
    SIGNATURE = 0x0003  # the issuer's signature over EF 0001 and EF 0002
    SIGNER_CERT = 0x0004  # the certificate of the key that signed EF 0003
    AP_INFO = 0x0005
    PIN = 0x0011
    PIN_A = 0x0014  # 照合番号A: the My Number
    PIN_B = 0x0015  # 照合番号B: birth date YYMMDD + card expiry YYMMDD + security code


# The files' sizes on a physical card (docs/card.md): a reader reads a fixed length inside
# them and gets `90 00`; the content is followed by FF. EF 0002's size is [chosen]: large
# enough for the longest name and address the residents file allows.
MY_NUMBER_FILE_SIZE = 17
KEY_ID_LENGTH = 16
AP_VERSION = bytes.fromhex("01030E01")
BASIC_INFO_FILE_SIZE = 0x0400
SIGNATURE_FILE_SIZE = 336
SIGNER_CERT_FILE_SIZE = 568
AP_INFO_FILE_SIZE = 256


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """基本4情報 as the card holds them. `repr` hides them so they never reach a log."""

    name: str = field(repr=False)
    address: str = field(repr=False)
    birth_date: dt.date = field(repr=False)
    sex: str = field(repr=False)  # "1" male, "2" female, "3" unset (Sex1 codes, docs/answer.md)

    def _item_tlvs(self) -> list[bytes]:
        return [
            encode_tlv(TAG_NAME, self.name.encode("utf-8")),
            encode_tlv(TAG_ADDRESS, self.address.encode("utf-8")),
            encode_tlv(TAG_BIRTH_DATE, _yyyymmdd(self.birth_date)),
            encode_tlv(TAG_SEX, self.sex.encode("ascii")),
        ]

    def items(self) -> bytes:
        """The four items' TLVs (DF22–DF25) as EF 0002 holds them, without DF21: what the
        signature in EF 0003 covers (its DF32)."""
        return b"".join(self._item_tlvs())

    def encode(self) -> bytes:
        """The EF 0002 content for these facts (used to personalise emulated cards): DF21
        gives each item's offset from the start of the file, as on a physical card."""
        return encode_indexed(TAG_BASIC_INFO, TAG_HEADER, self._item_tlvs())

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


def encode_signature_file(
    my_number_file: bytes, basic: BasicInfo, sign: Callable[[bytes], bytes]
) -> bytes:
    """EF 0003: `FF 30` { DF31 SHA-256 of the whole 17-byte EF 0001, DF32 SHA-256 of EF
    0002's items (DF22–DF25), DF33 the issuer's RSASSA-PKCS1-v1_5 SHA-256 signature over the
    DF31 and DF32 TLVs } (used to personalise emulated cards)."""
    signed = encode_tlv(TAG_MY_NUMBER_DIGEST, _sha256(my_number_file)) + encode_tlv(
        TAG_BASIC_INFO_DIGEST, _sha256(basic.items())
    )
    return encode_tlv(TAG_SIGNATURE, signed + encode_tlv(TAG_SIGNATURE_VALUE, sign(signed)))


def encode_ap_info(key_id: bytes) -> bytes:
    """EF 0005: `FF 40` { DF41 the application's version, DF42 the signing key's 16-byte
    identifier, DF43 128 bytes (32 of them used [chosen]) }."""
    if len(key_id) != KEY_ID_LENGTH:
        raise ValueError(f"a key identifier is {KEY_ID_LENGTH} bytes")
    reserved = key_id * 2 + bytes((PADDING,)) * 96
    return encode_tlv(
        TAG_AP_INFO,
        encode_tlv(0xDF41, AP_VERSION) + encode_tlv(0xDF42, key_id) + encode_tlv(0xDF43, reserved),
    )


def key_id_of(public_key: rsa.RSAPublicKey) -> bytes:
    """The 16-byte identifier of the attribute-signing key: SHA-256 of its modulus, cut
    [chosen]."""
    modulus = public_key.public_numbers().n
    return _sha256(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"))[:KEY_ID_LENGTH]


def verify_attributes(
    my_number_file: bytes, basic_info_file: bytes, signature_file: bytes, signer: rsa.RSAPublicKey
) -> None:
    """Check EF 0003 against EF 0001 and EF 0002 and the signer's key: the card's My Number
    and 4 items are the ones the issuer signed. Raises `MalformedResponse` (no values)."""
    try:
        tag, value = first_tlv(signature_file)
        parts = list(iter_tlvs(value))
    except TlvError as exc:
        raise MalformedResponse(f"the attribute signature is malformed: {exc}") from None
    if tag != TAG_SIGNATURE or [t for t, _ in parts] != [
        TAG_MY_NUMBER_DIGEST,
        TAG_BASIC_INFO_DIGEST,
        TAG_SIGNATURE_VALUE,
    ]:
        raise MalformedResponse("the attribute signature is not FF30 {DF31, DF32, DF33}")
    fields = dict(parts)
    if fields[TAG_MY_NUMBER_DIGEST] != _sha256(my_number_file[:MY_NUMBER_FILE_SIZE]):
        raise MalformedResponse("the My Number is not the one the issuer signed")
    if fields[TAG_BASIC_INFO_DIGEST] != _sha256(BasicInfo.decode(basic_info_file).items()):
        raise MalformedResponse("the 4 items are not the ones the issuer signed")
    signed = encode_tlv(TAG_MY_NUMBER_DIGEST, fields[TAG_MY_NUMBER_DIGEST]) + encode_tlv(
        TAG_BASIC_INFO_DIGEST, fields[TAG_BASIC_INFO_DIGEST]
    )
    try:
        signer.verify(fields[TAG_SIGNATURE_VALUE], signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise MalformedResponse("the attribute signature does not verify") from None


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def encode_my_number(my_number: str) -> bytes:
    """The whole 17-byte EF 0001 for a My Number (used to personalise emulated cards)."""
    tlv = encode_tlv(TAG_MY_NUMBER, validate_my_number(my_number).encode("ascii"))
    return tlv.ljust(MY_NUMBER_FILE_SIZE, bytes((PADDING,)))


def decode_my_number(content: bytes) -> str:
    """Parse EF 0001. Raises `MalformedResponse` (whose text never holds the digits)."""
    try:
        tag, value = first_tlv(content)
        if tag != TAG_MY_NUMBER:
            raise MalformedResponse(f"My Number: expected tag FF10, got {tag:X}")
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

    def pin_statuses(self) -> dict[str, int]:
        """Tries left for the PIN, 照合番号A and 照合番号B, by EF, without spending one."""
        out = {}
        for fid in (KenhojoFile.PIN, KenhojoFile.PIN_A, KenhojoFile.PIN_B):
            self._iso.select_file(fid)
            out[f"{fid:04X}"] = self._iso.tries_left()
        return out

    def read_verified_attributes(self) -> tuple[str, BasicInfo]:
        """The My Number and the 4 items, checked against the issuer's signature (EF 0003)
        and the signer's certificate (EF 0004). Needs `verify_pin`. Which signer to trust is
        the caller's: this checks that the card is consistent, not who issued it."""
        self._iso.select_file(KenhojoFile.MY_NUMBER)
        my_number_file = self._iso.read_file(MY_NUMBER_FILE_SIZE)
        basic_file = self._read_basic_info_file()
        self._iso.select_file(KenhojoFile.SIGNATURE)
        signature_file = self._iso.read_file(SIGNATURE_FILE_SIZE)
        try:
            signer = decode_cvc(self.read_signer_certificate())
        except CvcError as exc:
            raise MalformedResponse(f"the signer's certificate (EF 0004): {exc}") from None
        verify_attributes(my_number_file, basic_file, signature_file, signer.public_key)
        return decode_my_number(my_number_file), BasicInfo.decode(basic_file)

    def read_signer_certificate(self) -> bytes:
        """EF 0004, free to read: the CV certificate of the key that signed EF 0003."""
        self._iso.select_file(KenhojoFile.SIGNER_CERT)
        return self._iso.read_file(SIGNER_CERT_FILE_SIZE)

    def read_ap_info(self) -> bytes:
        """EF 0005, free to read (`FF 40 …`)."""
        self._iso.select_file(KenhojoFile.AP_INFO)
        return self._iso.read_file(AP_INFO_FILE_SIZE)

    def read_basic_info(self) -> BasicInfo:
        """The holder's 基本4情報 (needs `verify_pin`)."""
        return BasicInfo.decode(self._read_basic_info_file())

    def _read_basic_info_file(self) -> bytes:
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
        return self._iso.read_file(size)
