"""Values as they travel: `YYYYMMDD` dates, postcodes, bounded text. Pure, no I/O."""

from __future__ import annotations

import re
from functools import lru_cache

from onshi_kernel.japan_time import parse_yyyymmdd, yyyymmdd

# 記号・番号 are at most 38 bytes (docs/numbers.md). Counted in CP932, the encoding of the file
# interface (docs/file-interface.md), where a full-width character takes two bytes (unconfirmed: the
# official definition of the byte count is not public).
INSURED_NUMBER_MAX_BYTES = 38
TEXT_ENCODING_FOR_LIMITS = "cp932"

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_POST_NUMBER_RE = re.compile(r"([0-9]{3})-?([0-9]{4})")


# A `YYYYMMDD` date (docs/numbers.md); ValueError for anything else. Cached: an import reads
# the same few thousand dates a million times.
parse_wire_date = lru_cache(maxsize=65536)(parse_yyyymmdd)


format_wire_date = yyyymmdd  # a date as `YYYYMMDD`


def parse_post_number(text: str) -> str:
    """Read a postcode as `1234567` or `123-4567`; answer it as `123-4567` (docs/numbers.md)."""
    match = _POST_NUMBER_RE.fullmatch(text)
    if match is None:
        raise ValueError("expected a postcode as 123-4567")
    return f"{match.group(1)}-{match.group(2)}"


def legacy_byte_length(text: str) -> int:
    """The length of `text` in CP932 bytes; ValueError if CP932 cannot carry it."""
    try:
        return len(text.encode(TEXT_ENCODING_FOR_LIMITS))
    except UnicodeEncodeError:
        raise ValueError("contains a character Shift_JIS (CP932) cannot carry") from None


def has_control_characters(text: str) -> bool:
    """True if `text` holds a control character (tab, newline, …)."""
    return _CONTROL_RE.search(text) is not None
