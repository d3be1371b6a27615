"""Which encoding a CSV file is in, UTF-8 or Shift_JIS (CP932), decided on strong evidence.

Japanese office software writes CSV in both, and the two overlap: many UTF-8 names are
also valid CP932 (山田 in UTF-8 reads as CP932 「螻ｱ逕ｰ」), and a short CP932 name can be
valid UTF-8. So a file is read by what each line proves:

- a line that only one of the two encodings can read proves that encoding; so does a UTF-8
  byte order mark;
- a line both can read proves UTF-8 when its UTF-8 reading is Japanese text and its CP932
  reading shows the marks of UTF-8 read as CP932 (half-width katakana, private-use or C1
  characters between the kanji); otherwise it proves nothing;
- ASCII proves nothing.

A file that decodes as UTF-8 as a whole is UTF-8 (`utf-8-sig` with a BOM). Otherwise it is
CP932 only if every line is CP932 and no line proves UTF-8. A file in which lines prove
both is refused as mixed, naming the first line of the odd one out (the encoding fewer lines
prove; on a tie, the one met later); a line neither encoding can read is refused too. The
refusal names the line and the byte offset (from 0, in the file), never the bytes.

Weaker evidence was measured and left out: a single valid UTF-8 multi-byte sequence turns
up in about 80 % of CP932 rows with half-width kana (ｶﾅ pairs are two-byte UTF-8), and a
whole CP932 line of kanji is valid UTF-8 in up to 0.7 % of rows, so either rule would
refuse ordinary Shift_JIS files of a few thousand members.

Pure apart from reading the stream it is given: the front desk's appointment list uses it
as the registry's import does.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import BinaryIO

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
CP932 = "cp932"
CHUNK_BYTES = 1 << 16
SHIFT_JIS = "Shift_JIS (CP932)"

# What Japanese text is made of, read as UTF-8: CJK symbols, kana, ideographs (with
# extension A, the compatibility block and the supplementary planes' extensions, where
# 𠮷 lives) and the full-width and half-width forms.
_JAPANESE_RANGES = (
    (0x3000, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)
# What UTF-8 read as CP932 leaves behind: its continuation bytes fall out of step with
# CP932's pairs and read as half-width katakana (0xA1-0xDF), or as the private-use and C1
# characters CP932 gives 0x80, 0xA0 and 0xFD-0xFF.
_MOJIBAKE_RANGES = ((0xFF61, 0xFF9F), (0xE000, 0xF8FF), (0x80, 0x9F))


class EncodingUnclear(ValueError):
    """The file is neither UTF-8 nor CP932 as a whole. `line` counts from 1, `offset` is
    the first byte at fault counted from 0 in the file; `reason` names neither's bytes."""

    def __init__(self, reason: str, *, line: int, offset: int) -> None:
        super().__init__(f"line {line}, byte {offset}: {reason}")
        self.reason = reason
        self.line = line
        self.offset = offset


def detect_encoding(source: BinaryIO) -> str:
    """`utf-8`, `utf-8-sig` or `cp932`, or `EncodingUnclear`. Reads `source` from its start
    in chunks (twice when it is not UTF-8), never whole; leaves it at its start."""
    source.seek(0)
    has_bom = source.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    if not has_bom:
        source.seek(0)
    decoder = codecs.getincrementaldecoder(UTF8)()
    try:
        while chunk := source.read(CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        pass
    else:
        source.seek(0)
        return UTF8_BOM if has_bom else UTF8
    source.seek(0)
    try:
        _read_line_by_line(source)
    finally:
        source.seek(0)
    return CP932


@dataclass(slots=True)
class _Proof:
    """The lines that prove one encoding: how many, and the first one's number and the
    offset of its first byte at fault for the other encoding."""

    name: str
    lines: int = 0
    line: int = 0
    offset: int = 0
    by_mark_only: bool = False  # UTF-8 proved by nothing but the byte order mark

    def add(self, line: int, offset: int) -> None:
        if not self.lines:
            self.line, self.offset = line, offset
        self.lines += 1
        self.by_mark_only = False

    def said(self) -> str:
        """Where this encoding is, for the refusal of a file that mixes it with the other."""
        if self.by_mark_only:
            return "the file starts with a UTF-8 byte order mark"
        if self.lines == 1:
            return f"line {self.line} is {self.name}"
        return f"{self.lines} lines are {self.name} (the first: line {self.line})"


def _read_line_by_line(source: BinaryIO) -> None:
    """Raise `EncodingUnclear` unless every line is CP932 and none proves UTF-8.

    A line neither reads is refused as soon as it is met. Of a file whose lines prove both,
    the encoding fewer lines prove is the odd one out (on a tie, the one met later), and its
    first line is named. Splitting at LF is safe in both encodings: 0x0A is never part of a
    multi-byte character.
    """
    utf8, sjis = _Proof("UTF-8"), _Proof(SHIFT_JIS)
    offset = 0
    for number, raw in enumerate(iter(source.readline, b""), start=1):
        start, line = offset, raw
        offset += len(raw)
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            utf8.add(1, 0)
            utf8.by_mark_only = True
            start, line = start + len(codecs.BOM_UTF8), raw[len(codecs.BOM_UTF8) :]
        if line.isascii():
            continue
        utf8_bad, cp932_bad, proves_utf8 = _evidence(line)
        if utf8_bad is not None and cp932_bad is not None:
            at = cp932_bad if sjis.lines > utf8.lines else utf8_bad
            raise EncodingUnclear(
                f"bytes that are neither UTF-8 nor {SHIFT_JIS}", line=number, offset=start + at
            )
        if utf8_bad is not None:
            sjis.add(number, start + utf8_bad)
        elif proves_utf8 and not (number == 1 and utf8.lines):  # the mark counts once
            # CP932 misreads it from its first non-ASCII byte on.
            utf8.add(number, start + _first_non_ascii(line))
        elif proves_utf8:
            utf8.by_mark_only = False
    if utf8.lines and sjis.lines:
        if utf8.lines != sjis.lines:
            odd, usual = (utf8, sjis) if utf8.lines < sjis.lines else (sjis, utf8)
        else:
            odd, usual = (utf8, sjis) if utf8.line > sjis.line else (sjis, utf8)
        more = f" (and {odd.lines - 1} more)" if odd.lines > 1 else ""
        raise EncodingUnclear(
            f"mixed encodings: this line{more} is {odd.name}, but {usual.said()}; "
            "save the whole file in one encoding",
            line=odd.line,
            offset=odd.offset,
        )


def _evidence(line: bytes) -> tuple[int | None, int | None, bool]:
    """Where UTF-8 and CP932 fail on a line (None: it decodes), and whether it proves
    UTF-8."""
    try:
        as_utf8 = line.decode(UTF8)
    except UnicodeDecodeError as error:
        utf8_bad: int | None = error.start
        as_utf8 = None
    else:
        utf8_bad = None
    try:
        as_cp932 = line.decode(CP932)
    except UnicodeDecodeError as error:
        cp932_bad: int | None = error.start
        as_cp932 = None
    else:
        cp932_bad = None
    if as_utf8 is None:
        return utf8_bad, cp932_bad, False
    if as_cp932 is None:
        return None, cp932_bad, True
    return None, None, _reads_as_utf8(as_utf8, as_cp932)


def _reads_as_utf8(as_utf8: str, as_cp932: str) -> bool:
    """A line both encodings read: UTF-8 if that reading is Japanese and the CP932 one is
    UTF-8 misread."""
    japanese = all(char.isascii() or _within(ord(char), _JAPANESE_RANGES) for char in as_utf8)
    return japanese and any(_within(ord(char), _MOJIBAKE_RANGES) for char in as_cp932)


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _first_non_ascii(line: bytes) -> int:
    return next(index for index, byte in enumerate(line) if byte >= 0x80)
