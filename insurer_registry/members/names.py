"""Names and their kana readings in the form real answers carry them (docs/answer.md). Pure.

Clinic software reads `Name` with a full-width space between family and given name
(`山田　太郎`) and `NameKana` in half-width katakana (`ﾔﾏﾀﾞ ﾀﾛｳ`). Insurers' systems write
either width and either kind of space, and kana in katakana or hiragana: the registry takes
all of these in and stores the one form, once, where values come in (the member API and the
CSV import: `domain.taken_in`). A record read back is never rewritten.
"""

from __future__ import annotations

import re

import jaconv

NAME_SEPARATOR = "\u3000"  # between family and given name in Name
KANA_SEPARATOR = " "  # between family and given name in NameKana

# The spaces a caller may put between the parts of a name: ASCII and ideographic, any number.
_SPACES = re.compile("[ \u3000]+")
# A name already in its stored form: parts of no space, joined by single full-width spaces.
_STORED_NAME = re.compile("[^ \u3000]+(?:\u3000[^ \u3000]+)*")
# What a stored reading may hold: half-width katakana (with ･ ｰ ﾞ ﾟ) and single spaces.
_HALF_WIDTH_KANA = re.compile("[\uff65-\uff9f]+(?: [\uff65-\uff9f]+)*")
# What `name_kana` takes, as a character class: hiragana ぁ–ゔ and katakana ァ–ヴ (but for
# those below), ・ and ー, half-width katakana, and the two spaces. Not a dakuten typed as a
# combining mark (U+3099, U+309A): a reading holds the letter with its mark (ガ, ｶﾞ).
KANA_INPUT_CLASS = (
    "\u3041-\u308d\u308f\u3092-\u3094"  # hiragana without ゎ ゐ ゑ ゕ ゖ
    "\u30a1-\u30ed\u30ef\u30f2-\u30f4\u30fb\u30fc"  # katakana without ヮ ヰ ヱ ヵ ヶ ヷ–ヺ
    "\uff65-\uff9f"  # half-width katakana, ･ and ｰ, ﾞ and ﾟ
    " \u3000"
)
# Kana with no half-width form: ヮ ヰ ヱ ヵ ヶ ヷ ヸ ヹ ヺ and the iteration marks ヽ ヾ (and
# their hiragana ゎ ゐ ゑ ゕ ゖ ゝ ゞ, which become them).
_NO_HALF_WIDTH = frozenset("ヮヰヱヵヶヷヸヹヺヽヾ")

KANA_INPUT_RULE = "katakana (full- or half-width) or hiragana, and spaces"
NO_HALF_WIDTH_RULE = "ヮ, ヰ, ヱ, ヵ, ヶ, ヷ–ヺ, ヽ and ヾ have no half-width form"


def _half_width_table() -> dict[int, str]:
    """jaconv's conversion, hiragana to katakana to half-width katakana, of each character
    of the hiragana and katakana blocks that it changes. Both conversions map character by
    character, so one `str.translate` with this table gives what the two give, about four
    times faster in the import's hot loop."""
    table = {}
    for code in range(0x3041, 0x3100):
        character = chr(code)
        converted = jaconv.z2h(jaconv.hira2kata(character), kana=True, ascii=False, digit=False)
        if converted != character:
            table[code] = converted
    return table


_TO_HALF_WIDTH = _half_width_table()


class NotKana(ValueError):
    """A reading that cannot be written in half-width katakana; the reason names the rule,
    never the text."""


def person_name(text: str) -> str:
    """`Name` (and `InsuredName`, `NameOfOther`): the parts joined by one full-width space,
    whichever spaces and however many separated them; none at either end."""
    if _STORED_NAME.fullmatch(text):  # the import's hot loop: most names come so already
        return text
    return _SPACES.sub(NAME_SEPARATOR, text).strip(" \u3000")


def name_kana(text: str) -> str:
    """`NameKana` (and `NameOfOtherKana`) in half-width katakana, the parts joined by one
    ASCII space. Raises `NotKana` for anything but kana and spaces."""
    if _HALF_WIDTH_KANA.fullmatch(text):  # stored form already: nothing to convert
        return text
    joined = _SPACES.sub(KANA_SEPARATOR, text).strip(" \u3000")
    half_width = joined.translate(_TO_HALF_WIDTH)
    if _HALF_WIDTH_KANA.fullmatch(half_width) is None:
        if any(character in _NO_HALF_WIDTH for character in half_width):
            raise NotKana(NO_HALF_WIDTH_RULE)
        raise NotKana(f"{KANA_INPUT_RULE} only")
    return half_width


def kana_key(text: str) -> str:
    """A reading as search compares it: half-width, without spaces. Never raises: a reading
    stored before the registry normalised them may hold what `name_kana` refuses."""
    squashed = _SPACES.sub("", text)
    try:
        return name_kana(squashed)
    except NotKana:
        return squashed
