"""Wire types shared by the HTTP schemas: `YYYYMMDD` dates, the My Number, insurer numbers,
the parts of an insured number and bounded text.

Each type states in its JSON Schema the rule that is enforced on it, so that what an API
document calls valid is what the server accepts. A rule JSON Schema cannot state (a check
digit, a byte count in Shift_JIS) is said in the type's description."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from insurer_registry.members.domain import (
    ADDRESS_MAX_CHARACTERS,
    BRANCH_NUMBER_LENGTH,
    NAME_MAX_CHARACTERS,
)
from insurer_registry.members.names import KANA_INPUT_CLASS, KANA_INPUT_RULE
from insurer_registry.members.wire import (
    INSURED_NUMBER_MAX_BYTES,
    format_wire_date,
    parse_wire_date,
)
from onshi_kernel.mynumber import validate_my_number
from onshi_kernel.patterns import (
    INSURER_NUMBER_DESCRIPTION,
    INSURER_NUMBER_PATTERN,
    WIRE_DATE_PATTERN,
)

# Control (Unicode category Cc) and format (Cf) characters, which text fields refuse: a
# character that changes how a name shows or compares without being seen (U+202E, U+200B,
# the BOM, tags). Cf as of Unicode 14.0, the tables of the Python that checks them.
_CONTROL = (
    r"\x00-\x1f\x7f-\x9f"  # Cc
    r"\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    r"\U000e0020-\U000e007f"
)
# What `str.strip` takes for blank (its whitespace besides the control characters).
_SPACE = r" \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EDGE_SPACE = r" \u3000"  # the spaces an insured number may not start or end with


def _text_pattern() -> str:
    """No control or format character, and something besides spaces."""
    return f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"


def _insured_number_part_pattern() -> str:
    """Text (`_text_pattern`) that neither starts nor ends with a space of either width."""
    any_char, solid, inner_edge = (
        f"[^{_CONTROL}]",
        f"[^{_CONTROL}{_SPACE}]",
        f"[^{_CONTROL}{_EDGE_SPACE}]",
    )
    return (
        f"^(?:{solid}"  # one character
        f"|{solid}{any_char}*{inner_edge}"  # something besides spaces first
        f"|{inner_edge}{any_char}*{solid}"  # … or last
        f"|{inner_edge}{any_char}*{solid}{any_char}*{inner_edge})$"  # … or within
    )


TEXT_PATTERN = _text_pattern()
INSURED_NUMBER_PART_PATTERN = _insured_number_part_pattern()
# Kana `names.name_kana` takes (katakana of either width, hiragana) and spaces; not blank.
_KANA = KANA_INPUT_CLASS.replace(" \u3000", "")
KANA_PATTERN = f"^[{_KANA} \u3000]*[{_KANA}][{_KANA} \u3000]*$"


def _date_from_wire(value: Any) -> Any:
    if isinstance(value, str):
        return parse_wire_date(value)
    return value


WireDate = Annotated[
    date,
    BeforeValidator(_date_from_wire),
    PlainSerializer(format_wire_date, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": WIRE_DATE_PATTERN,
            "description": "a calendar date as YYYYMMDD",
            "examples": ["20240401"],
        }
    ),
]

MyNumber = Annotated[
    str,
    AfterValidator(validate_my_number),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "個人番号: 12 digits, the last the check digit of the others "
            "(refused with MyNumber named when it does not match); never stored or echoed",
            "writeOnly": True,
        }
    ),
]


def _published(**schema: Any) -> WithJsonSchema:
    """The JSON Schema of a string field whose rule `domain` or `numbers` enforces."""
    return WithJsonSchema({"type": "string", **schema})


# The registry's own rules on the fields below are enforced where the API and the CSV import
# both pass (`domain.MemberRecord`, `numbers.InsurerNumber`), and answered with the problem
# named; these types publish the same rules (tests hold the patterns to them).
InsurerNumberText = Annotated[
    str, _published(pattern=INSURER_NUMBER_PATTERN, description=INSURER_NUMBER_DESCRIPTION)
]
InsuredNumberPart = Annotated[
    str,
    _published(
        minLength=1,
        maxLength=INSURED_NUMBER_MAX_BYTES,
        pattern=INSURED_NUMBER_PART_PATTERN,
        description=f"at most {INSURED_NUMBER_MAX_BYTES} bytes in Shift_JIS (CP932), where a "
        "full-width character takes two, and only characters CP932 carries; no control or "
        "format characters, no space of either width at either end",
    ),
]
BranchNumber = Annotated[
    str,
    _published(
        pattern=f"^[0-9]{{{BRANCH_NUMBER_LENGTH}}}$",
        description=f"{BRANCH_NUMBER_LENGTH} digits, leading zeros kept",
        examples=["00"],
    ),
]
NameText = Annotated[
    str,
    _published(
        maxLength=NAME_MAX_CHARACTERS,
        pattern=TEXT_PATTERN,
        description="not blank; no control or format characters; stored and answered with "
        "one full-width space between the parts, whichever spaces (ASCII or full-width, "
        "however many) separated them",
    ),
]
AddressText = Annotated[
    str,
    _published(
        maxLength=ADDRESS_MAX_CHARACTERS,
        pattern=TEXT_PATTERN,
        description="not blank; no control or format characters",
    ),
]
KanaText = Annotated[
    str,
    _published(
        maxLength=NAME_MAX_CHARACTERS,
        pattern=KANA_PATTERN,
        description=f"{KANA_INPUT_RULE}, not blank; stored and answered in half-width "
        "katakana with one space between the parts (at most "
        f"{NAME_MAX_CHARACTERS} characters in that form: ｶﾞ is two)",
    ),
]
PostNumberText = Annotated[str, _published(pattern="^[0-9]{3}-[0-9]{4}$", examples=["123-4567"])]

SPEC_NAMES = ConfigDict(
    populate_by_name=True,
    serialize_by_alias=True,
    extra="forbid",
    hide_input_in_errors=True,
)
