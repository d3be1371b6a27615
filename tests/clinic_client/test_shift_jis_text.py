"""Text for a Shift_JIS answer (docs/file-interface.md, encodings): what cp932 carries goes
through as it is; anything else becomes a defined substitute, never a character reference."""

from __future__ import annotations

import pytest

from clinic_client.connector.shift_jis import GETA, VARIANTS, fit_shift_jis


@pytest.mark.parametrize(
    "text",
    [
        "髙橋",  # U+9AD9, an IBM extension: cp932 bytes FB FC
        "﨑山",  # U+FA11, also an IBM extension
        "①②",  # NEC special characters
        "ﾔﾏﾀﾞ ﾀﾛｳ",  # half-width kana: NFKC would make them full-width
        "\uf929",  # 朗, a compatibility ideograph cp932 has: NFC would rewrite it to U+6717
        "山田\u3000太郎",
        "㈱～",  # NFKC would make these (株) and ~
    ],
)
def test_text_cp932_carries_goes_through_unchanged(text: str) -> None:
    fitted = fit_shift_jis(text)
    assert (fitted.text, fitted.replaced) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("𠮷田", "吉田"),  # U+20BB7, the named variant
        ("𠮟る", "叱る"),  # the 常用漢字表's allowed forms
        ("剝離", "剥離"),
        ("装塡", "装填"),
        ("頰", "頬"),
        ("1\u20142", "1\u20152"),  # the dash JIS maps to U+2014, cp932 to U+2015
        ("葛\U000e0100飾", "葛飾"),  # an ideographic variation selector dropped
        ("か\u3099", "が"),  # a combining voiced mark composed (NFC)
        ("\u2f00", "一"),  # a Kangxi radical (NFKC)
        ("㋿", "令和"),  # the era's square sign (NFKC)
        ("\U0002000b", GETA),  # 𠀋: no substitute cp932 has
        ("a\u0301", GETA),  # a base and its mark count as one character
    ],
)
def test_a_character_cp932_lacks_gets_its_defined_substitute(text: str, expected: str) -> None:
    fitted = fit_shift_jis(text)
    assert fitted.text == expected
    assert fitted.replaced == 1
    fitted.text.encode("cp932")  # strict: nothing left to escape


def test_each_replaced_character_is_counted() -> None:
    assert fit_shift_jis("𠮷田 𠮷子 \U0002000b").replaced == 3


def test_every_variant_leaves_cp932_for_a_character_it_has() -> None:
    for source, target in VARIANTS.items():
        with pytest.raises(UnicodeEncodeError):
            source.encode("cp932")
        target.encode("cp932")
