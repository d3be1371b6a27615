"""The four-item match (4情報照合): an insurer's 氏名・生年月日・性別・住所 against the issuer's.

Since the 2023 mislinkings (insured numbers registered against other people's My Numbers), every
registration is matched against J-LIS's resident register (住基) on the four items, and a
mismatch is held, not linked. That the match is on these four items is known from the real
system; how spellings are made comparable below is chosen by this project [chosen]. A match
answers one outcome per item (match / mismatch / not given) and never a stored value.

The rules (docs/linkage.md, "What counts as a match", has examples):

- Name (氏名): equal keys. A key is the name after NFKC (full and half width alike), with every
  space (ASCII, U+3000, any number) and every variation selector (U+FE00–FE0F,
  U+E0100–E01EF) removed, old and variant kanji folded to their common form by
  `joyokanji.convert(..., variants=True)` (髙→高, 﨑→崎, 邊→辺, 𠮷→吉, 澤→沢, 齋→斎) and by
  `normalise.NAME_VARIANT_SUPPLEMENT`, the surname variants joyokanji leaves alone
  (邉→辺, 濵→浜, 嶋/嶌→島, 嵜→崎, 槇→槙, 冨→富, 逹→達). When the insurer gave the reading
  and the register has one, the readings' keys must be equal too: NFKC (half-width kana to
  full), hiragana to katakana, spaces removed, small kana written large (キヨウコ = キョウコ),
  every dash or tilde used as a long vowel as ー. Distinct kanji stay distinct (斉藤 ≠ 斎藤,
  崎 ≠ 埼) and nothing is guessed: another or a missing character is a mismatch.
- Birth date (生年月日): the same date. Sex (性別): the same code ("1", "2", "3").
- Address (住所): not given when the insurer gave none — name, birth date and sex decide, and
  an address, when given, must match [chosen]. Otherwise the keys are compared after: NFKC,
  spaces removed (a space between two numbers becomes "-"), kanji folded as for names, runs of
  kanji numerals (〇一二三四五六七八九十百千) read as Arabic numbers by kanjize, 大字
  dropped, ヶ ケ ヵ が ガ between two kanji as ケ, any dash look-alike between digits as
  "-", 丁目 / 番地 (and 番地の) / 番 before a digit / の or ノ between digits as "-", 号室
  after a number and a 号 not followed by a digit dropped, and a dash not followed by a digit
  dropped (一丁目2番2号 = 1丁目2-2 = １－２－２ = 1-2-2). A leading prefecture (one of the 47)
  written on one side only is ignored; written on both, it must be the same (東京都府中市 ≠
  広島県府中市). A building name or room written on one side only is ignored: one key is the
  other's start, the shorter ends in a digit (a house number was given) and the rest of the
  longer starts with neither a digit nor "-" nor a unit of the address (条 丁 番 町 村 区 市
  郡 線 地 通 目 字): 1-2-2 = 1-2-2サンハイツ101, but 1-2-2 ≠ 1-2-20 ≠ 1-2, 北1 ≠ 北1条西2,
  and a town alone is not the town with a number.
- The person: unknown to the register, no item is compared; every item counts as differing.
- `FourItemMatch.matched`: the person is known, no item is a mismatch, and name, birth date and
  sex each matched.

The register's keys are computed once per load; a claim costs one dict lookup and normalising
the claim's own values.
"""

from __future__ import annotations

from onshi_kernel.four_items.register import (
    REGISTER_FORMAT,
    FileResidentRegister,
    FourItemMatch,
    FourItems,
    InMemoryResidentRegister,
    Item,
    Outcome,
    ResidentRegister,
    ResidentRegisterError,
    parse_register,
    register_document,
)

__all__ = [
    "REGISTER_FORMAT",
    "FileResidentRegister",
    "FourItemMatch",
    "FourItems",
    "InMemoryResidentRegister",
    "Item",
    "Outcome",
    "ResidentRegister",
    "ResidentRegisterError",
    "parse_register",
    "register_document",
]
