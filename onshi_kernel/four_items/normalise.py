"""The comparison keys of the four items: what two spellings must share to be the same.

Each function maps a value as written (by an insurer, or as the issuer holds it) to a key; two
values match when their keys are equal (the address: see `address_keys_match`). The rules, and
which of them this project chose, are in the package docstring and docs/linkage.md.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

import jaconv
import joyokanji
import kanjize

# Every kind of space an insurer's system or a person at a desk may type, any number of them.
_SPACES: Final = re.compile(r"[\s\u3000\u200b\u2060\ufeff]+")
# Variation selectors (standard and ideographic): they pick a glyph, never another character.
_VARIATION_SELECTORS: Final = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")

# Surname variants joyokanji leaves alone, each the 異体字 or 俗字 of a common surname kanji
# that legacy insurer systems, lacking the rare form, write as the common one [chosen]:
# 渡邉/渡辺, 長濵/長浜, 中嶋/中島, 大嶌/大島, 宮嵜/宮崎, 槇原/槙原, 冨田/富田, 伊逹/伊達.
NAME_VARIANT_SUPPLEMENT: Final[dict[str, str]] = {
    "邉": "辺",
    "濵": "浜",
    "嶋": "島",
    "嶌": "島",
    "嵜": "崎",
    "槇": "槙",
    "冨": "富",
    "逹": "達",
}
_SUPPLEMENT_TABLE: Final = str.maketrans(NAME_VARIANT_SUPPLEMENT)

# Small kana written large by systems that cannot store them (キヨウコ for キョウコ).
_SMALL_KANA_TABLE: Final = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
# A long vowel typed as any dash (after NFKC: ASCII hyphen, the Unicode dashes, the minus).
_KANA_LONG_VOWEL_TABLE: Final = str.maketrans(dict.fromkeys("-‐‑‒–—―−ｰ~〜", "ー"))

_KANJI: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f々"
_KANJI_NUMERALS: Final = re.compile("[〇一二三四五六七八九十百千]+")
# ヶ ケ ヵ が ガ joining two kanji of a place name (霞が関/霞ヶ関, 茅ヶ崎/茅ケ崎, 自由が丘).
_PLACE_KE: Final = re.compile(f"(?<=[{_KANJI}])[ヶケヵがガ](?=[{_KANJI}])")
_DIGIT_SPACE: Final = re.compile(r"(?<=[0-9])[\s\u3000]+(?=[0-9])")
# After a number: 丁目, 番地 (番地の), and before another number 番, の, ノ or any dash
# look-alike (NFKC has already made ｰ ー and － -) all separate numbers as "-".
_SEPARATOR: Final = re.compile("(?<=[0-9])(?:丁目|番地[のノ]?|(?:番|[のノ]|[‐‑‒–—―−ー-])(?=[0-9]))")
# 号 ending a house number (not 号 followed by a number), and 号室 after a room number.
_GO: Final = re.compile("(?<=[0-9])号(?:室|(?![0-9]))")
# A dash that separates nothing from a number (1丁目 at the end, 1--2): dropped.
_LOOSE_DASH: Final = re.compile("-+(?![0-9])")
_ASCII_DIGITS: Final = "0123456789"
# What cannot begin a building name after a house number: another number, a separator, or a
# unit that continues the address (北1条, 3番町, 2線, 5丁) [chosen]. A building whose name
# starts with one of these (市川ハイツ) is held for a person to look at, never linked wrongly.
_NOT_A_BUILDING: Final = frozenset(_ASCII_DIGITS + "-条丁番町村区市郡線地通目字")

PREFECTURES: Final = (  # the 47, as a leading prefecture is written
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)


def _common_text(value: str) -> str:
    """NFKC (full and half width alike), no spaces, no variation selectors."""
    text = unicodedata.normalize("NFKC", value)
    return _VARIATION_SELECTORS.sub("", _SPACES.sub("", text))


def _fold_kanji(text: str) -> str:
    """Old and variant kanji to their common form: joyokanji's tables, then the supplement."""
    folded: str = joyokanji.convert(text, variants=True)
    return folded.translate(_SUPPLEMENT_TABLE)


def name_key(name: str) -> str:
    """The key of a kanji name (氏名)."""
    return _fold_kanji(_common_text(name))


def _reading_table() -> dict[int, str]:
    """One translation table for a reading: jaconv's hiragana → katakana (each hiragana
    character asked of jaconv once, here), then small kana written large and every dash a
    long-vowel mark. `str.translate` applies it in C: jaconv's own loop is a Python one, most
    of a bulk import's matching time."""
    sources = {chr(code) for code in range(0x3041, 0x30A0)}  # the Hiragana block
    sources |= {chr(code) for code in (*_SMALL_KANA_TABLE, *_KANA_LONG_VOWEL_TABLE)}
    table: dict[int, str] = {}
    for char in sources:
        key = jaconv.hira2kata(char).translate(_SMALL_KANA_TABLE)
        key = key.translate(_KANA_LONG_VOWEL_TABLE)
        if key != char:
            table[ord(char)] = key
    return table


_READING_TABLE: Final = _reading_table()


def kana_key(name_kana: str) -> str:
    """The key of a name's reading (カナ氏名): katakana, large kana, one long-vowel mark."""
    return _common_text(name_kana).translate(_READING_TABLE)


_PREFECTURE_SET: Final = frozenset(PREFECTURES)


@functools.lru_cache(maxsize=4096)
def _number_of(run: str) -> str:
    """A run of kanji numerals as an Arabic number; the same few runs recur in every address."""
    try:
        return str(kanjize.kanji2number(run))
    except ValueError:  # not a number (千千): left as written, on both sides alike
        return run


def _arabic(match: re.Match[str]) -> str:
    return _number_of(match.group(0))


AddressKey = tuple[str | None, str]


def address_key(address: str) -> AddressKey:
    """The key of an address (住所): (its leading prefecture or None, the rest's key)."""
    text = unicodedata.normalize("NFKC", address)
    # A space between two numbers separates them (1-2-2 101): it must not join them (1-2-2101).
    text = _DIGIT_SPACE.sub("-", text)
    text = _fold_kanji(_VARIATION_SELECTORS.sub("", _SPACES.sub("", text)))
    # Every prefecture's name is 3 characters, or 4 (神奈川県 和歌山県 鹿児島県).
    prefecture: str | None = None
    for length in (3, 4):
        if text[:length] in _PREFECTURE_SET:
            prefecture, text = text[:length], text[length:]
            break
    text = _KANJI_NUMERALS.sub(_arabic, text)
    if "大字" in text:
        text = text.replace("大字", "")
    text = _PLACE_KE.sub("ケ", text)
    text = _SEPARATOR.sub("-", text)
    text = _GO.sub("", text)
    return prefecture, _LOOSE_DASH.sub("", text)


def address_keys_match(a: AddressKey, b: AddressKey) -> bool:
    """Whether two split address keys name the same place.

    Prefectures are compared only when both sides wrote one. Then the rests are equal, or one
    is the other plus a building name or room: the shorter ends in a house number (a digit) and
    what follows it starts with neither a digit nor "-" (1-2-2 vs 1-2-2サンハイツ101, but not
    1-2-2 vs 1-2-20 or 1-2-2-5, nor a town alone against the town and a number), nor with a
    unit of the address itself (北1 is not 北1条西2, 3 is not 3番町5).
    """
    (pref_a, rest_a), (pref_b, rest_b) = a, b
    if pref_a is not None and pref_b is not None and pref_a != pref_b:
        return False
    if rest_a == rest_b:
        return True
    short, long = (rest_a, rest_b) if len(rest_a) < len(rest_b) else (rest_b, rest_a)
    if not short or not long.startswith(short) or short[-1] not in _ASCII_DIGITS:
        return False
    following = long[len(short)]
    return following not in _NOT_A_BUILDING
