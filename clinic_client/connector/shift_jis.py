"""Text for a Shift_JIS answer: each character cp932 lacks replaced by one it has
(docs/file-interface.md, encodings). Pure.

A numeric character reference (`&#134071;`) would keep the character for a full XML parser,
but at least one parser widely used on receipt computers leaves references undecoded and
shows the patient's name as `&#134071;田`. So a Shift_JIS answer holds only cp932
characters; a UTF-8 answer keeps every character as it is. Characters cp932 carries (①,
half-width kana, 髙, 﨑) are never touched: NFC or NFKC would rewrite some of them (NFKC
turns ｶﾅ into カナ), so normalisation is applied only to what cp932 cannot carry.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

CP932: Final = "cp932"
GETA: Final = "\u3013"  # 〓, the mark JIS text has long used for a character its set lacks

# Characters outside cp932 with a well-known form inside it. Kept small: every entry has
# a reason, and anything not listed goes through NFKC or becomes 〓.
VARIANTS: Final = MappingProxyType(
    {
        "\U00020bb7": "\u5409",  # 𠮷 → 吉: 吉 written with 土 on top (つちよし), a family-name form
        # 常用漢字表 (2010): these four are listed with the form in brackets allowed in their
        # place, the form JIS X 0208 (and so cp932) has.
        "\U00020b9f": "\u53f1",  # 𠮟 → 叱
        "\u525d": "\u5265",  # 剝 → 剥
        "\u5861": "\u586b",  # 塡 → 填
        "\u9830": "\u982c",  # 頰 → 頬
        # Shift_JIS 81 5C (全角ダッシュ) is U+2014 in the JIS mapping, U+2015 in cp932's.
        "\u2014": "\u2015",  # — → ―
    }
)


@dataclass(frozen=True, slots=True)
class Fitted:
    """`text` as cp932 can carry it; `replaced` counts the characters that were changed
    (a character with its combining marks or variation selector counts once)."""

    text: str
    replaced: int


def fit_shift_jis(text: str) -> Fitted:
    """`text` with each character cp932 cannot carry replaced, in this order, by the first
    that cp932 can: the character without its variation selector (葛󠄀 → 葛), its NFC form
    (か + combining ゛ → が), its entry in `VARIANTS` (𠮷 → 吉), its NFKC form (⼀ → 一,
    ㋿ → 令和); else 〓."""
    if _carried(text):
        return Fitted(text, 0)
    parts: list[str] = []
    replaced = 0
    for cluster in _clusters(text):
        if _carried(cluster):
            parts.append(cluster)
            continue
        parts.append(_substitute(cluster))
        replaced += 1
    return Fitted("".join(parts), replaced)


def _substitute(cluster: str) -> str:
    plain = "".join(c for c in cluster if not _is_variation_selector(c))
    if not plain:
        return ""  # a variation selector with no character to select a form of
    composed = unicodedata.normalize("NFC", plain)
    for candidate in (
        plain,
        composed,
        VARIANTS.get(composed, ""),
        unicodedata.normalize("NFKC", composed),
    ):
        if candidate and _carried(candidate):
            return candidate
    return GETA


def _clusters(text: str) -> list[str]:
    """`text` cut before every character that is not a mark, so that a base character
    stays with its combining marks and variation selectors (all of category M…)."""
    clusters: list[str] = []
    for char in text:
        if clusters and unicodedata.category(char).startswith("M"):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _is_variation_selector(char: str) -> bool:
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _carried(text: str) -> bool:
    try:
        text.encode(CP932)
    except UnicodeEncodeError:
        return False
    return True
