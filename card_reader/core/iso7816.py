"""ISO 7816-4 commands shared by the card's applications, over a `CardConnection`.

Status words become exceptions here, so no caller above this module sees one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from card_reader.core.apdu import (
    MAX_SHORT_LE,
    SW,
    SW1_MORE_DATA,
    SW1_WRONG_LE,
    CommandApdu,
    Ins,
    tries_left_from_sw,
)
from card_reader.core.errors import (
    ApduError,
    ApplicationNotFound,
    FileNotFound,
    MalformedResponse,
    PinBlocked,
    PinError,
    PinNotIssued,
    SecurityStatusNotSatisfied,
)
from card_reader.core.tlv import TlvError, der_total_length

if TYPE_CHECKING:
    from card_reader.core.connection import CardConnection

CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80
P1_SELECT_BY_NAME = 0x04
P1_SELECT_EF_UNDER_DF = 0x02
P2_NO_RESPONSE_DATA = 0x0C
P2_SPECIFIC_REFERENCE = 0x80  # VERIFY / COMPUTE DIGITAL SIGNATURE: the current EF's secret
P1_NEW_REFERENCE_ONLY = 0x01  # CHANGE REFERENCE DATA after a successful VERIFY
# READ BINARY addresses 15 bits of offset (P1 bit 8 clear): no EF read here is larger. A
# header claiming more is refused before anything else is read.
MAX_EF_BYTES = 0x8000
# GET RESPONSE chaining (61xx) past what an extended APDU could carry is a card that does
# not stop: refused rather than followed for ever.
MAX_RESPONSE_BYTES = 0x10000


class IsoChannel:
    """Typed ISO 7816-4 verbs. Handles 61xx (GET RESPONSE) and 6Cxx (retry with Le)."""

    def __init__(self, connection: CardConnection) -> None:
        self._connection = connection

    def transmit(self, command: CommandApdu) -> tuple[bytes, int]:
        """Send one command; follow 61xx and 6Cxx as ISO 7816-3/-4 say; return data and SW."""
        data, sw = self._connection.send_and_receive(command.to_bytes())
        if sw >> 8 == SW1_WRONG_LE:
            retry = CommandApdu(
                command.cla, command.ins, command.p1, command.p2, command.data, (sw & 0xFF) or 256
            )
            data, sw = self._connection.send_and_receive(retry.to_bytes())
        fetched = 0
        while sw >> 8 == SW1_MORE_DATA:
            fetched += 1
            if fetched > MAX_RESPONSE_BYTES // MAX_SHORT_LE or len(data) > MAX_RESPONSE_BYTES:
                raise MalformedResponse(
                    f"the card still has more data after {len(data)} bytes and "
                    f"{fetched - 1} GET RESPONSE commands"
                )
            get = CommandApdu(CLA_ISO, Ins.GET_RESPONSE, 0, 0, le=(sw & 0xFF) or 256)
            more, sw = self._connection.send_and_receive(get.to_bytes())
            data += more
        return data, sw

    def select_application(self, aid: bytes) -> None:
        """SELECT DF by name (`00 A4 04 0C`). Raises `ApplicationNotFound`."""
        _, sw = self.transmit(
            CommandApdu(CLA_ISO, Ins.SELECT, P1_SELECT_BY_NAME, P2_NO_RESPONSE_DATA, aid)
        )
        if sw == SW.FILE_NOT_FOUND:
            raise ApplicationNotFound(aid, sw)
        _check(f"SELECT {aid.hex().upper()}", sw)

    def select_file(self, fid: int) -> None:
        """SELECT EF under the current DF (`00 A4 02 0C`). Raises `FileNotFound`."""
        command = CommandApdu(
            CLA_ISO, Ins.SELECT, P1_SELECT_EF_UNDER_DF, P2_NO_RESPONSE_DATA, fid.to_bytes(2, "big")
        )
        _, sw = self.transmit(command)
        if sw == SW.FILE_NOT_FOUND:
            raise FileNotFound(fid, sw)
        _check(f"SELECT EF {fid:04X}", sw)

    def read_binary(self, offset: int, length: int) -> bytes:
        """READ BINARY of up to `length` (1–256) bytes at `offset` of the current EF.

        Fewer bytes come back at the end of the file (62 82), which is not an error here.
        """
        if not 0 <= offset <= 0x7FFF:
            raise ValueError(f"offset {offset} is outside the 15-bit range of READ BINARY")
        command = CommandApdu(CLA_ISO, Ins.READ_BINARY, offset >> 8, offset & 0xFF, le=length)
        data, sw = self.transmit(command)
        if sw not in (SW.OK, SW.END_OF_FILE):
            _check(f"READ BINARY at {offset}", sw)
        return data

    def read_der_object(self) -> bytes:
        """Read the DER object (a certificate) stored at the start of the current EF.

        The first READ asks for 256 bytes: the header inside them sizes the object, so a
        certificate costs ceil(size / 256) READ BINARY commands and no separate header read.
        A chunk shorter than asked for is the end of the file (ISO 7816-4: 62 82), so an
        object that claims more is refused.
        """
        first = self.read_binary(0, MAX_SHORT_LE)
        try:
            total = der_total_length(first)
        except TlvError as exc:
            raise MalformedResponse(f"the file does not start with a DER object: {exc}") from exc
        if total > MAX_EF_BYTES:
            raise MalformedResponse(
                f"the DER header claims {total} bytes, larger than an EF ({MAX_EF_BYTES})"
            )
        chunks = [first[:total]]
        offset = len(chunks[0])
        if len(first) < MAX_SHORT_LE and offset < total:
            raise MalformedResponse(f"the file ends at {offset} of {total} bytes")
        while offset < total:
            wanted = min(MAX_SHORT_LE, total - offset)
            chunk = self.read_binary(offset, wanted)[:wanted]
            chunks.append(chunk)
            offset += len(chunk)
            if len(chunk) < wanted and offset < total:
                raise MalformedResponse(f"the file ends at {offset} of {total} bytes")
        return b"".join(chunks)

    def read_file(self, size: int) -> bytes:
        """Read the first `size` bytes of the current EF (fewer if the file is shorter)."""
        if not 0 <= size <= MAX_EF_BYTES:
            raise ValueError(f"size {size} is outside 0..{MAX_EF_BYTES}")
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            wanted = min(MAX_SHORT_LE, size - offset)
            chunk = self.read_binary(offset, wanted)[:wanted]
            chunks.append(chunk)
            offset += len(chunk)
            if len(chunk) < wanted:  # the end of the file came first
                break
        return b"".join(chunks)

    def tries_left(self) -> int:
        """Tries left for the PIN of the current EF, without spending one (empty VERIFY)."""
        _, sw = self.transmit(CommandApdu(CLA_ISO, Ins.VERIFY, 0x00, P2_SPECIFIC_REFERENCE))
        tries = tries_left_from_sw(sw)
        if tries is not None:
            return tries
        if sw == SW.AUTH_METHOD_BLOCKED:
            raise PinNotIssued()
        if sw == SW.REFERENCE_DATA_NOT_USABLE:
            return 0
        _check("VERIFY (tries left)", sw)
        raise MalformedResponse(f"empty VERIFY answered {sw:04X} instead of 63 Cx")

    def verify(self, secret: bytes) -> None:
        """VERIFY the current EF's PIN. Raises `PinError(tries_left)` or `PinBlocked`."""
        _, sw = self.transmit(CommandApdu(CLA_ISO, Ins.VERIFY, 0x00, P2_SPECIFIC_REFERENCE, secret))
        _check_verification(sw)

    def change_reference_data(self, new_secret: bytes) -> None:
        """CHANGE REFERENCE DATA (`00 24 01 80`) after a successful VERIFY."""
        command = CommandApdu(
            CLA_ISO,
            Ins.CHANGE_REFERENCE_DATA,
            P1_NEW_REFERENCE_ONLY,
            P2_SPECIFIC_REFERENCE,
            new_secret,
        )
        _, sw = self.transmit(command)
        _check("CHANGE REFERENCE DATA", sw)

    def compute_digital_signature(self, digest_info: bytes) -> bytes:
        """COMPUTE DIGITAL SIGNATURE (`80 2A 00 80`) with the current key EF; the card pads."""
        command = CommandApdu(
            CLA_PROPRIETARY,
            Ins.PERFORM_SECURITY_OPERATION,
            0x00,
            P2_SPECIFIC_REFERENCE,
            digest_info,
            le=MAX_SHORT_LE,
        )
        signature, sw = self.transmit(command)
        _check("COMPUTE DIGITAL SIGNATURE", sw)
        return signature


def _check_verification(sw: int) -> None:
    if sw == SW.OK:
        return
    tries = tries_left_from_sw(sw)
    if sw == SW.AUTH_METHOD_BLOCKED:
        raise PinNotIssued()
    if tries == 0 or sw == SW.REFERENCE_DATA_NOT_USABLE:
        raise PinBlocked()
    if tries is not None:
        raise PinError(tries)
    _check("VERIFY", sw)


def _check(command: str, sw: int) -> None:
    if sw == SW.OK:
        return
    if sw == SW.SECURITY_STATUS_NOT_SATISFIED:
        raise SecurityStatusNotSatisfied(command, sw)
    raise ApduError(command, sw)
