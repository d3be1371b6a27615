"""保険者番号 (insurer numbers): format, check digit and kind. Pure, no I/O.

8 digits = 法別番号(2) + 都道府県番号(2) + 保険者別番号(3) + check digit(1);
国民健康保険 uses 6 digits (no 法別番号), its check digit over the first 5; 後期高齢者医療
numbers start with 39. The check digit is Luhn over the preceding digits: from the right,
weights 2, 1, 2, …; the digits of a two-digit product are summed;
check = (10 − sum mod 10) mod 10. Example: `3312001` → `5` (docs/numbers.md).

On the wire a 6-digit 国保 number may arrive space-padded or zero-padded to 8 characters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

NATIONAL_HEALTH_LENGTH = 6
EMPLOYEE_LENGTH = 8
LATE_ELDERLY_LAW_NUMBER = "39"
FIRST_PREFECTURE, LAST_PREFECTURE = 1, 47  # 都道府県番号: 01 北海道 … 47 沖縄


class InvalidInsurerNumber(ValueError):
    """A string that is not a valid insurer number."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid insurer number: {reason}")
        self.reason = reason


class InsurerKind(enum.StrEnum):
    """The insurance scheme an insurer belongs to, read from its 法別番号.

    The mapping of 法別番号 to schemes follows MHLW's published table (unconfirmed for
    the rarer codes); anything not listed is `OTHER`, never an error.
    """

    NATIONAL_HEALTH = "national_health"  # 国民健康保険 (6-digit number)
    LATE_ELDERLY = "late_elderly"  # 39 後期高齢者医療
    KYOKAI_KENPO = "kyokai_kenpo"  # 01 全国健康保険協会管掌健康保険
    SEAFARERS = "seafarers"  # 02 船員保険
    DAY_LABOURERS = "day_labourers"  # 03, 04 日雇特例被保険者
    HEALTH_INSURANCE_SOCIETY = "health_insurance_society"  # 06 組合管掌健康保険
    SELF_DEFENSE_FORCES = "self_defense_forces"  # 07 自衛官等
    MUTUAL_AID = "mutual_aid"  # 31–34 共済組合
    SPECIAL_RETIREES = "special_retirees"  # 63, 72–75 特例退職被保険者
    NATIONAL_HEALTH_RETIREES = "national_health_retirees"  # 67 退職者医療
    OTHER = "other"


_KIND_BY_LAW_NUMBER = {
    "01": InsurerKind.KYOKAI_KENPO,
    "02": InsurerKind.SEAFARERS,
    "03": InsurerKind.DAY_LABOURERS,
    "04": InsurerKind.DAY_LABOURERS,
    "06": InsurerKind.HEALTH_INSURANCE_SOCIETY,
    "07": InsurerKind.SELF_DEFENSE_FORCES,
    "31": InsurerKind.MUTUAL_AID,
    "32": InsurerKind.MUTUAL_AID,
    "33": InsurerKind.MUTUAL_AID,
    "34": InsurerKind.MUTUAL_AID,
    LATE_ELDERLY_LAW_NUMBER: InsurerKind.LATE_ELDERLY,
    "63": InsurerKind.SPECIAL_RETIREES,
    "67": InsurerKind.NATIONAL_HEALTH_RETIREES,
    "72": InsurerKind.SPECIAL_RETIREES,
    "73": InsurerKind.SPECIAL_RETIREES,
    "74": InsurerKind.SPECIAL_RETIREES,
    "75": InsurerKind.SPECIAL_RETIREES,
}


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit for `digits` (docs/numbers.md)."""
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInsurerNumber("expected digits only")
    total = 0
    for position, char in enumerate(reversed(digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class InsurerNumber:
    """A validated insurer number: 8 digits, or 6 digits for 国民健康保険."""

    digits: str

    def __post_init__(self) -> None:
        if len(self.digits) not in (NATIONAL_HEALTH_LENGTH, EMPLOYEE_LENGTH):
            raise InvalidInsurerNumber("expected 6 or 8 digits")
        if not (self.digits.isascii() and self.digits.isdigit()):
            raise InvalidInsurerNumber("expected digits only")
        if len(self.digits) == EMPLOYEE_LENGTH and self.digits.startswith("00"):
            raise InvalidInsurerNumber("法別番号 00 does not exist")
        prefecture = int(self.digits[-6:-4])
        if not FIRST_PREFECTURE <= prefecture <= LAST_PREFECTURE:
            raise InvalidInsurerNumber("都道府県番号 must be 01–47")
        if luhn_check_digit(self.digits[:-1]) != int(self.digits[-1]):
            raise InvalidInsurerNumber("check digit does not match")

    @classmethod
    def parse(cls, text: str) -> InsurerNumber:
        """Read an insurer number as it arrives on the wire.

        A 国保 number may be right-aligned in 8 characters with spaces or zeros (docs/numbers.md);
        both come back as the 6 digits.
        """
        stripped = text.strip(" ")
        if len(stripped) == EMPLOYEE_LENGTH and stripped.startswith("00"):
            stripped = stripped[2:]
        if not stripped:
            raise InvalidInsurerNumber("empty")
        return cls(stripped)

    @property
    def is_national_health(self) -> bool:
        """True for a 6-digit 国民健康保険 number."""
        return len(self.digits) == NATIONAL_HEALTH_LENGTH

    @property
    def kind(self) -> InsurerKind:
        """The scheme, from the 法別番号 (or the 6-digit form)."""
        if self.is_national_health:
            return InsurerKind.NATIONAL_HEALTH
        return _KIND_BY_LAW_NUMBER.get(self.digits[:2], InsurerKind.OTHER)

    @property
    def wire(self) -> str:
        """The 8-character form of the eligibility answer: 国保 right-aligned with spaces."""
        return self.digits.rjust(EMPLOYEE_LENGTH, " ")

    def __str__(self) -> str:
        return self.digits


def complete_insurer_number(without_check_digit: str) -> str:
    """Append the check digit to 5 or 7 digits (used to make test insurers)."""
    return without_check_digit + str(luhn_check_digit(without_check_digit))


CLINIC_CODE_LENGTH = 10


def validate_clinic_code(code: str) -> str:
    """医療機関コード: 10 digits (都道府県 2 + 点数表 1 + 7). Raises ValueError."""
    if len(code) != CLINIC_CODE_LENGTH or not (code.isascii() and code.isdigit()):
        raise ValueError("a medical institution code is 10 digits")
    if not 1 <= int(code[:2]) <= 47:
        raise ValueError("a medical institution code starts with a prefecture number 01-47")
    return code
