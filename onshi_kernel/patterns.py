"""Patterns of the wire's values, published in every API document that carries them and
enforced by the models that declare them: a date and an insurer number."""

from __future__ import annotations


def _calendar_date_pattern() -> str:
    """`YYYYMMDD` for the calendar dates of years 0001–9999, February 29th in leap years
    only: what `parse_wire_date` accepts."""
    year = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
    day_of_month = (
        "(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
        "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
        "|02(?:0[1-9]|1[0-9]|2[0-8]))"
    )
    multiple_of_4 = "(?:0[48]|[2468][048]|[13579][26])"  # 04 … 96, not 00
    leap_year = f"(?:[0-9]{{2}}{multiple_of_4}|{multiple_of_4}00)"
    return f"^(?:{year}{day_of_month}|{leap_year}0229)$"


WIRE_DATE_PATTERN = _calendar_date_pattern()

# 都道府県番号, the 3rd and 4th digits of an 8-digit insurer number or the first two of a
# 6-digit 国保 number: 01 北海道 … 47 沖縄.
_PREFECTURE = "(?:0[1-9]|[1-3][0-9]|4[0-7])"
# 8 digits, or 6, with spaces around them if any (docs/numbers.md: a 国保 number may come
# right-aligned in 8 characters; `InsurerNumber.parse` strips the spaces, and reads 8 digits
# starting 00 as the 6 after them). The Luhn check digit is beyond a pattern.
INSURER_NUMBER_PATTERN = f"^ *(?:[0-9]{{2}}{_PREFECTURE}[0-9]{{4}}|{_PREFECTURE}[0-9]{{4}}) *$"
INSURER_NUMBER_DESCRIPTION = (
    "保険者番号: 8 digits, or a 6-digit 国保 number (which may be right-aligned in 8 "
    "characters with spaces or zeros); 都道府県番号 01–47; the last digit is the Luhn check "
    "digit of the others (refused with InsurerNumber named when it does not match)"
)
