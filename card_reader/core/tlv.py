"""BER-TLV headers (ISO 7816-4 §5.2, X.690 §8.1): enough to size a DER certificate from its
first bytes and to walk the 券面事項入力補助AP's records. No I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


class TlvError(ValueError):
    """Bytes that do not hold a well-formed BER-TLV header or value."""


@dataclass(frozen=True, slots=True)
class TlvHeader:
    """A tag (as its raw bytes read as one big-endian integer) and the value's length."""

    tag: int
    length: int
    header_length: int

    @property
    def total_length(self) -> int:
        """Header plus value: the number of bytes the whole TLV occupies."""
        return self.header_length + self.length


def parse_header(data: bytes, offset: int = 0) -> TlvHeader:
    """Parse the TLV header at `offset`. Raises `TlvError` if it is cut short or malformed."""
    pos = offset
    if pos >= len(data):
        raise TlvError("no tag: the data ends before the header")
    first = data[pos]
    tag = first
    pos += 1
    if (first & 0x1F) == 0x1F:  # high tag number form: more tag bytes while bit 8 is set
        while True:
            if pos >= len(data):
                raise TlvError("the data ends inside a multi-byte tag")
            tag = (tag << 8) | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if pos - offset > 4:
                raise TlvError("tag longer than 4 bytes")
    if pos >= len(data):
        raise TlvError("the data ends before the length")
    length_byte = data[pos]
    pos += 1
    if length_byte < 0x80:
        length = length_byte
    elif length_byte == 0x80:
        raise TlvError("indefinite length is not allowed in DER")
    else:
        count = length_byte & 0x7F
        if count > 4:
            raise TlvError(f"length of {count} bytes is too large")
        if pos + count > len(data):
            raise TlvError("the data ends inside the length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return TlvHeader(tag=tag, length=length, header_length=pos - offset)


def der_total_length(prefix: bytes) -> int:
    """Total size of the DER object that starts with `prefix` (its header suffices).

    A certificate starts `30 82 LL LL`: the total is LL LL + 4 (docs/card.md).
    """
    header = parse_header(prefix)
    if header.tag != 0x30:
        raise TlvError(f"expected a DER SEQUENCE (30), got tag {header.tag:X}")
    return header.total_length


def iter_tlvs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, value) for each TLV in `data`, in order. Raises `TlvError` if one is cut."""
    pos = 0
    while pos < len(data):
        header = parse_header(data, pos)
        start = pos + header.header_length
        end = start + header.length
        if end > len(data):
            raise TlvError(f"value of tag {header.tag:X} runs past the end of the data")
        yield header.tag, data[start:end]
        pos = end


def first_tlv(data: bytes) -> tuple[int, bytes]:
    """The (tag, value) of the TLV at the start of `data`; whatever follows (padding) is ignored."""
    header = parse_header(data)
    if header.total_length > len(data):
        raise TlvError(f"value of tag {header.tag:X} runs past the end of the data")
    return header.tag, data[header.header_length : header.total_length]


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Encode one TLV with a definite length (used to personalise emulated cards)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes((0x80 | len(raw),)) + raw
    return tag_bytes + length + value


def encode_indexed(tag: int, index_tag: int, items: list[bytes]) -> bytes:
    """`tag` holding an index TLV (`index_tag`: each item's offset from the start of the
    encoding, 2 bytes big-endian) followed by the encoded `items`, as the card's record
    files lay themselves out (docs/card.md)."""
    index_size = len(encode_tlv(index_tag, bytes(2 * len(items))))
    body_size = index_size + sum(map(len, items))
    at = len(encode_tlv(tag, bytes(body_size))) - body_size + index_size
    offsets = []
    for item in items:
        offsets.append(at.to_bytes(2, "big"))
        at += len(item)
    return encode_tlv(tag, encode_tlv(index_tag, b"".join(offsets)) + b"".join(items))
