"""What an insurer records about one insured person: frozen values and their rules. No I/O.

A `MemberRecord` is one qualification (資格) as the insurer states it: the individual insured
number (記号・番号・枝番, docs/numbers.md), the card, the person's name and birth date, the
period, the copay ratio and the certificates of the answer (docs/answer.md). Every rule that
can be checked on the record alone lives here; rules that need other records (one person, one
qualification at a time per insurer; one insured number, one person) live in the member
service and the importer.

Field names in problems are the answer's element names, so an insurer can map a rejection back
to its own column. A problem never repeats the value it rejects.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    LimitCertificateChanged,
    LimitCertificateClassification,
    LimitIncomeClass,
    PersonalFamilyClassification,
    PreschoolClassification,
    ReasonOfLoss,
    Sex,
    SpecificDiseaseCategory,
)
from insurer_registry.members.names import NotKana, name_kana, person_name
from insurer_registry.members.wire import (
    INSURED_NUMBER_MAX_BYTES,
    has_control_characters,
    legacy_byte_length,
    parse_post_number,
)

BRANCH_NUMBER_LENGTH = 2
NAME_MAX_CHARACTERS = 100  # unconfirmed: the official length of Name is not public
ADDRESS_MAX_CHARACTERS = 200  # unconfirmed
ELDERLY_RECIPIENT_AGE = 70

# The element name (docs/answer.md) of every flat field, in the order columns are written
# (database, staging table, CSV). Nested certificates are flattened with their own names.
ELEMENT_NAMES: dict[str, str] = {
    "symbol": "InsuredCardSymbol",
    "number": "InsuredIdentificationNumber",
    "branch": "InsuredBranchNumber",
    "card_classification": "InsuredCardClassification",
    "personal_family": "PersonalFamilyClassification",
    "insured_name": "InsuredName",
    "name": "Name",
    "name_of_other": "NameOfOther",
    "name_kana": "NameKana",
    "name_of_other_kana": "NameOfOtherKana",
    "sex": "Sex1",
    "sex2": "Sex2",
    "birthdate": "Birthdate",
    "address": "Address",
    "post_number": "PostNumber",
    "qualification_date": "QualificationDate",
    "disqualification_date": "DisqualificationDate",
    "reason_of_loss": "ReasonOfLoss",
    "contribution_ratio": "InsuredPartialContributionRatio",
    "preschool": "PreschoolClassification",
    "certificate_issuance_date": "InsuredCertificateIssuanceDate",
    "card_valid_date": "InsuredCardValidDate",
    "card_expiration_date": "InsuredCardExpirationDate",
    "elderly_certificate_date": "ElderlyRecipientCertificateDate",
    "elderly_valid_start": "ElderlyRecipientValidStartDate",
    "elderly_valid_end": "ElderlyRecipientValidEndDate",
    "elderly_contribution_ratio": "ElderlyRecipientContributionRatio",
    "limit_changed": "LimitApplicationCertificateChanged",
    "limit_classification": "LimitApplicationCertificateClassification",
    "limit_income_class": "LimitApplicationCertificateClassificationFlag",
    "limit_certificate_date": "LimitApplicationCertificateDate",
    "limit_valid_start": "LimitApplicationCertificateValidStartDate",
    "limit_valid_end": "LimitApplicationCertificateValidEndDate",
    "limit_long_term_date": "LimitApplicationCertificateLongTermDate",
}
FLAT_FIELDS: tuple[str, ...] = tuple(ELEMENT_NAMES)
SPECIFIC_DISEASES_ELEMENT = "SpecificDiseasesCertificateList"
MY_NUMBER_ELEMENT = "MyNumber"
INSURER_NUMBER_ELEMENT = "InsurerNumber"

# Full-width katakana (with ー), half-width katakana, and spaces of either width.
_KANA_RE = re.compile("[\u30a0-\u30ff\uff65-\uff9f \u3000]*")
_ELDERLY_FIELDS = tuple(name for name in FLAT_FIELDS if name.startswith("elderly_"))
# The fields of LimitApplicationCertificateRelatedInfo (limit_changed stands beside it).
_LIMIT_FIELDS = tuple(
    name for name in FLAT_FIELDS if name.startswith("limit_") and name != "limit_changed"
)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One broken rule: the element it concerns and why, without the value."""

    field: str
    reason: str


class InvalidRecord(ValueError):
    """A record that breaks one or more rules. Carries every problem found."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class ElderlyRecipientCertificate:
    """高齢受給者証 (ElderlyRecipientCertificateInfo)."""

    valid_start: date
    valid_end: date
    contribution_ratio: ContributionRatio
    certificate_date: date | None = None


@dataclass(frozen=True, slots=True)
class LimitApplicationCertificate:
    """限度額適用認定証 (LimitApplicationCertificateRelatedInfo)."""

    classification: LimitCertificateClassification
    valid_start: date
    valid_end: date | None = None
    income_class: LimitIncomeClass | None = None
    certificate_date: date | None = None
    long_term_date: date | None = None


@dataclass(frozen=True, slots=True)
class SpecificDiseaseCertificate:
    """特定疾病療養受療証, one entry of SpecificDiseasesCertificateList.

    The element names inside the list (SpecificDiseasesDiseaseCategory, …ValidStartDate,
    …ValidEndDate, …CertificateDate, …SelfPay) are unconfirmed.
    """

    category: SpecificDiseaseCategory
    valid_start: date
    valid_end: date | None = None
    certificate_date: date | None = None
    self_pay_limit_yen: int | None = None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One qualification as an insurer states it. Construction validates every rule."""

    number: str
    branch: str
    card_classification: InsuredCardClassification
    personal_family: PersonalFamilyClassification
    name: str
    sex: Sex
    birthdate: date
    qualification_date: date
    symbol: str | None = None
    insured_name: str | None = None
    name_of_other: str | None = None  # 通称名 (NameOfOther)
    name_kana: str | None = None
    name_of_other_kana: str | None = None
    sex2: Sex | None = None  # the sex the card's back shows (Sex2)
    address: str | None = None
    post_number: str | None = None
    disqualification_date: date | None = None
    reason_of_loss: ReasonOfLoss | None = None
    contribution_ratio: ContributionRatio | None = None
    preschool: PreschoolClassification | None = None
    certificate_issuance_date: date | None = None
    card_valid_date: date | None = None
    card_expiration_date: date | None = None
    elderly: ElderlyRecipientCertificate | None = None
    limit_changed: LimitCertificateChanged | None = None
    limit: LimitApplicationCertificate | None = None
    specific_diseases: tuple[SpecificDiseaseCertificate, ...] = field(default=())

    def __post_init__(self) -> None:
        problems = record_problems(self)
        if problems:
            raise InvalidRecord(problems)

    def is_valid_on(self, day: date) -> bool:
        """True if the qualification covers `day`: the loss date is the first day without."""
        if day < self.qualification_date:
            return False
        return self.disqualification_date is None or day < self.disqualification_date

    def flat(self) -> dict[str, Any]:
        """The flat fields (`FLAT_FIELDS`) of this record; certificates flattened."""
        elderly, limit = self.elderly, self.limit
        return {
            "symbol": self.symbol,
            "number": self.number,
            "branch": self.branch,
            "card_classification": self.card_classification,
            "personal_family": self.personal_family,
            "insured_name": self.insured_name,
            "name": self.name,
            "name_of_other": self.name_of_other,
            "name_kana": self.name_kana,
            "name_of_other_kana": self.name_of_other_kana,
            "sex": self.sex,
            "sex2": self.sex2,
            "birthdate": self.birthdate,
            "address": self.address,
            "post_number": self.post_number,
            "qualification_date": self.qualification_date,
            "disqualification_date": self.disqualification_date,
            "reason_of_loss": self.reason_of_loss,
            "contribution_ratio": self.contribution_ratio,
            "preschool": self.preschool,
            "certificate_issuance_date": self.certificate_issuance_date,
            "card_valid_date": self.card_valid_date,
            "card_expiration_date": self.card_expiration_date,
            "elderly_certificate_date": elderly.certificate_date if elderly else None,
            "elderly_valid_start": elderly.valid_start if elderly else None,
            "elderly_valid_end": elderly.valid_end if elderly else None,
            "elderly_contribution_ratio": elderly.contribution_ratio if elderly else None,
            "limit_changed": self.limit_changed,
            "limit_classification": limit.classification if limit else None,
            "limit_income_class": limit.income_class if limit else None,
            "limit_certificate_date": limit.certificate_date if limit else None,
            "limit_valid_start": limit.valid_start if limit else None,
            "limit_valid_end": limit.valid_end if limit else None,
            "limit_long_term_date": limit.long_term_date if limit else None,
        }


@cache
def _members(enum_type: type[enum.Enum]) -> dict[Any, enum.Enum]:
    """Members by wire code, and by themselves (so a member passes through)."""
    by_value: dict[Any, enum.Enum] = {member.value: member for member in enum_type}
    by_value.update({member: member for member in enum_type})
    return by_value


def record_from_flat(
    values: dict[str, Any],
    specific_diseases: Sequence[SpecificDiseaseCertificate] = (),
) -> MemberRecord:
    """Build a record from flat fields (as stored); codes may be plain strings.

    Raises `InvalidRecord` when a certificate is half given or a code is unknown.
    """
    problems: list[FieldProblem] = []

    def code(name: str, enum_type: type[enum.Enum]) -> Any:
        raw = values.get(name)
        if raw is None:
            return None
        member = _members(enum_type).get(raw)
        if member is None:
            problems.append(FieldProblem(ELEMENT_NAMES[name], "not a known code"))
        return member

    elderly = None
    if any(values.get(name) is not None for name in _ELDERLY_FIELDS):
        ratio = code("elderly_contribution_ratio", ContributionRatio)
        start, end = values.get("elderly_valid_start"), values.get("elderly_valid_end")
        for name, value in (
            ("elderly_valid_start", start),
            ("elderly_valid_end", end),
            ("elderly_contribution_ratio", ratio),
        ):
            if value is None:
                problems.append(FieldProblem(ELEMENT_NAMES[name], "required with the certificate"))
        if start is not None and end is not None and ratio is not None:
            elderly = ElderlyRecipientCertificate(
                valid_start=start,
                valid_end=end,
                contribution_ratio=ratio,
                certificate_date=values.get("elderly_certificate_date"),
            )
    limit = None
    if any(values.get(name) is not None for name in _LIMIT_FIELDS):
        classification = code("limit_classification", LimitCertificateClassification)
        income_class = code("limit_income_class", LimitIncomeClass)
        start = values.get("limit_valid_start")
        if values.get("limit_classification") is None:
            problems.append(
                FieldProblem(ELEMENT_NAMES["limit_classification"], "required with the certificate")
            )
        if start is None:
            problems.append(
                FieldProblem(ELEMENT_NAMES["limit_valid_start"], "required with the certificate")
            )
        if classification is not None and start is not None:
            limit = LimitApplicationCertificate(
                classification=classification,
                valid_start=start,
                valid_end=values.get("limit_valid_end"),
                income_class=income_class,
                certificate_date=values.get("limit_certificate_date"),
                long_term_date=values.get("limit_long_term_date"),
            )
    required = {
        "number": values.get("number"),
        "branch": values.get("branch"),
        "name": values.get("name"),
        "birthdate": values.get("birthdate"),
        "qualification_date": values.get("qualification_date"),
    }
    for name, value in required.items():
        if value is None or value == "":
            problems.append(FieldProblem(ELEMENT_NAMES[name], "required"))
    card = code("card_classification", InsuredCardClassification)
    family = code("personal_family", PersonalFamilyClassification)
    sex = code("sex", Sex)
    for name, value in (("card_classification", card), ("personal_family", family), ("sex", sex)):
        if value is None and values.get(name) is None:
            problems.append(FieldProblem(ELEMENT_NAMES[name], "required"))
    reason = code("reason_of_loss", ReasonOfLoss)
    ratio = code("contribution_ratio", ContributionRatio)
    preschool = code("preschool", PreschoolClassification)
    sex2 = code("sex2", Sex)
    limit_changed = code("limit_changed", LimitCertificateChanged)
    if problems or card is None or family is None or sex is None:
        raise InvalidRecord(problems)
    return MemberRecord(
        symbol=values.get("symbol"),
        number=values["number"],
        branch=values["branch"],
        card_classification=card,
        personal_family=family,
        insured_name=values.get("insured_name"),
        name=values["name"],
        name_of_other=values.get("name_of_other"),
        name_kana=values.get("name_kana"),
        name_of_other_kana=values.get("name_of_other_kana"),
        sex=sex,
        sex2=sex2,
        birthdate=values["birthdate"],
        address=values.get("address"),
        post_number=values.get("post_number"),
        qualification_date=values["qualification_date"],
        disqualification_date=values.get("disqualification_date"),
        reason_of_loss=reason,
        contribution_ratio=ratio,
        preschool=preschool,
        certificate_issuance_date=values.get("certificate_issuance_date"),
        card_valid_date=values.get("card_valid_date"),
        card_expiration_date=values.get("card_expiration_date"),
        elderly=elderly,
        limit_changed=limit_changed,
        limit=limit,
        specific_diseases=tuple(specific_diseases),
    )


# The text fields a caller writes freely (the rest are codes, dates and digits).
INPUT_TEXT_FIELDS = (
    "symbol",
    "number",
    "insured_name",
    "name",
    "name_of_other",
    "name_kana",
    "name_of_other_kana",
    "address",
)
# Names and readings, stored in the one form real answers carry (`names`).
NAME_FIELDS = ("insured_name", "name", "name_of_other")
KANA_FIELDS = ("name_kana", "name_of_other_kana")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


def invisible_character(text: str) -> str | None:
    """The first control (Unicode category Cc) or format (Cf: bidi controls, zero-width
    characters, the BOM, soft hyphen, tags) character of `text`, or None.

    Such a character changes how a name is shown or compared without being seen: U+202E
    shows 山田太郎 as 山田郎太, U+200B makes two names that look the same differ. Ideographic
    spaces, variation selectors (Mn: a registered glyph variant) and private-use 外字 (Co)
    are none of these and pass.
    """
    # Fast path, in C: printable text (the ideographic space is Zs, so not "printable").
    if text.replace("\u3000", "").isprintable():
        return None
    return next((c for c in text if unicodedata.category(c) in _INVISIBLE_CATEGORIES), None)


def input_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    """What the registry does not take in, beyond a record's own rules: a control or format
    character (`invisible_character`) in any text field of `values` (record attributes).

    Checked where values come in, the API's bodies and the CSV import, and not on every
    `MemberRecord`: a record stored before this rule must stay readable and correctable.
    """
    problems = []
    for name in INPUT_TEXT_FIELDS:
        value = values.get(name)
        if isinstance(value, str) and (found := invisible_character(value)) is not None:
            problems.append(
                FieldProblem(
                    ELEMENT_NAMES[name],
                    f"contains U+{ord(found):04X} (a control or format character)",
                )
            )
    return problems


def taken_in(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """What the registry stores of what a caller sent (record attributes), and what it does
    not take in (`input_problems`, and a reading `names.name_kana` refuses).

    The one place names and readings are normalised (`names`): names joined by one
    full-width space, readings in half-width katakana. The member API and the CSV import
    both pass here; a record read back from the database does not.
    """
    problems = input_problems(values)
    taken = dict(values)
    for name in NAME_FIELDS:
        value = taken.get(name)
        if isinstance(value, str):
            taken[name] = person_name(value) or value  # a blank one: the record's rule says so
    for name in KANA_FIELDS:
        value = taken.get(name)
        if not isinstance(value, str):
            continue
        try:
            taken[name] = name_kana(value)
        except NotKana as error:
            element = ELEMENT_NAMES[name]
            blank = not value.strip(" \u3000")  # the record's rule says so
            if not blank and all(problem.field != element for problem in problems):
                problems.append(FieldProblem(element, str(error)))
    return taken, problems


def accepted_record(values: Mapping[str, Any]) -> MemberRecord:
    """A record from what a caller sent (record attributes), taken in (`taken_in`) and held
    to the record's own rules, every problem reported at once in one `InvalidRecord`."""
    values, refused = taken_in(values)
    try:
        record = MemberRecord(**values)
    except InvalidRecord as error:
        named = {problem.field for problem in refused}
        others = [problem for problem in error.problems if problem.field not in named]
        raise InvalidRecord([*refused, *others]) from None
    if refused:
        raise InvalidRecord(refused)
    return record


def changed_elements(before: MemberRecord, after: MemberRecord) -> tuple[str, ...]:
    """The element names whose values differ between two records, in column order."""
    old, new = before.flat(), after.flat()
    changed = [ELEMENT_NAMES[name] for name in FLAT_FIELDS if old[name] != new[name]]
    if before.specific_diseases != after.specific_diseases:
        changed.append(SPECIFIC_DISEASES_ELEMENT)
    return tuple(changed)


def elderly_recipient_eligible_from(birthdate: date) -> date:
    """The first day a 高齢受給者証 can be valid: the 1st of the month after the 70th
    birthday, or the birthday itself when it falls on the 1st (unconfirmed: MHLW's rule as
    commonly published)."""
    year = birthdate.year + ELDERLY_RECIPIENT_AGE
    if birthdate.day == 1:
        return date(year, birthdate.month, 1)
    if birthdate.month == 12:
        return date(year + 1, 1, 1)
    return date(year, birthdate.month + 1, 1)


def _is_kana(text: str) -> bool:
    return _KANA_RE.fullmatch(text) is not None


def _check_insured_number_part(
    problems: list[FieldProblem], element: str, value: str | None, *, required: bool
) -> None:
    if value is None:
        if required:
            problems.append(FieldProblem(element, "required"))
        return
    if not value.strip():
        problems.append(FieldProblem(element, "must not be blank (omit it instead)"))
        return
    if value != value.strip(" \u3000") or has_control_characters(value):
        problems.append(FieldProblem(element, "leading/trailing spaces or control characters"))
        return
    try:
        length = legacy_byte_length(value)
    except ValueError as error:
        problems.append(FieldProblem(element, str(error)))
        return
    if length > INSURED_NUMBER_MAX_BYTES:
        problems.append(FieldProblem(element, f"longer than {INSURED_NUMBER_MAX_BYTES} bytes"))


def _check_text(
    problems: list[FieldProblem],
    element: str,
    value: str | None,
    *,
    required: bool,
    max_characters: int,
) -> None:
    if value is None:
        if required:
            problems.append(FieldProblem(element, "required"))
        return
    if not value.strip():
        problems.append(FieldProblem(element, "must not be blank (omit it instead)"))
    elif has_control_characters(value):
        problems.append(FieldProblem(element, "contains control characters"))
    elif len(value) > max_characters:
        problems.append(FieldProblem(element, f"longer than {max_characters} characters"))


def _check_order(
    problems: list[FieldProblem],
    earlier: date | None,
    later: date | None,
    element: str,
    reason: str,
) -> None:
    if earlier is not None and later is not None and later < earlier:
        problems.append(FieldProblem(element, reason))


def record_problems(record: MemberRecord) -> list[FieldProblem]:
    """Every rule `record` breaks, empty when it is sound."""
    problems: list[FieldProblem] = []
    names = ELEMENT_NAMES
    _check_insured_number_part(problems, names["symbol"], record.symbol, required=False)
    _check_insured_number_part(problems, names["number"], record.number, required=True)
    branch = record.branch
    if not (len(branch) == BRANCH_NUMBER_LENGTH and branch.isascii() and branch.isdigit()):
        problems.append(FieldProblem(names["branch"], "expected 2 digits (leading zeros kept)"))
    _check_text(
        problems, names["name"], record.name, required=True, max_characters=NAME_MAX_CHARACTERS
    )
    _check_text(
        problems,
        names["insured_name"],
        record.insured_name,
        required=False,
        max_characters=NAME_MAX_CHARACTERS,
    )
    _check_text(
        problems,
        names["name_of_other"],
        record.name_of_other,
        required=False,
        max_characters=NAME_MAX_CHARACTERS,
    )
    for kana_field in KANA_FIELDS:
        kana = getattr(record, kana_field)
        _check_text(
            problems, names[kana_field], kana, required=False, max_characters=NAME_MAX_CHARACTERS
        )
        if kana is not None and not _is_kana(kana):
            problems.append(FieldProblem(names[kana_field], "katakana and spaces only"))
    _check_text(
        problems,
        names["address"],
        record.address,
        required=False,
        max_characters=ADDRESS_MAX_CHARACTERS,
    )
    if record.post_number is not None:
        try:
            canonical = parse_post_number(record.post_number)
        except ValueError as error:
            problems.append(FieldProblem(names["post_number"], str(error)))
        else:
            if canonical != record.post_number:
                problems.append(FieldProblem(names["post_number"], "expected 123-4567"))

    _check_order(
        problems,
        record.birthdate,
        record.qualification_date,
        names["qualification_date"],
        "before the birth date",
    )
    _check_order(
        problems,
        record.qualification_date,
        record.disqualification_date,
        names["disqualification_date"],
        "before the qualification date",
    )
    if record.disqualification_date is not None and record.reason_of_loss is None:
        problems.append(FieldProblem(names["reason_of_loss"], "required with a loss date"))
    if record.disqualification_date is None and record.reason_of_loss is not None:
        problems.append(FieldProblem(names["reason_of_loss"], "given without a loss date"))
    _check_order(
        problems,
        record.certificate_issuance_date,
        record.card_expiration_date,
        names["card_expiration_date"],
        "before the issuance date",
    )
    _check_order(
        problems,
        record.card_valid_date,
        record.card_expiration_date,
        names["card_expiration_date"],
        "before the valid-from date",
    )
    if record.elderly is not None:
        _check_order(
            problems,
            record.elderly.valid_start,
            record.elderly.valid_end,
            names["elderly_valid_end"],
            "before the valid start date",
        )
        if record.elderly.valid_start < elderly_recipient_eligible_from(record.birthdate):
            problems.append(
                FieldProblem(names["elderly_valid_start"], "before the holder's eligibility at 70")
            )
    if record.limit is not None:
        _check_order(
            problems,
            record.limit.valid_start,
            record.limit.valid_end,
            names["limit_valid_end"],
            "before the valid start date",
        )
    seen: set[tuple[SpecificDiseaseCategory, date]] = set()
    for certificate in record.specific_diseases:
        _check_order(
            problems,
            certificate.valid_start,
            certificate.valid_end,
            SPECIFIC_DISEASES_ELEMENT,
            "a certificate ends before it starts",
        )
        if certificate.self_pay_limit_yen is not None and certificate.self_pay_limit_yen < 0:
            problems.append(FieldProblem(SPECIFIC_DISEASES_ELEMENT, "negative self-pay limit"))
        key = (certificate.category, certificate.valid_start)
        if key in seen:
            problems.append(FieldProblem(SPECIFIC_DISEASES_ELEMENT, "the same certificate twice"))
        seen.add(key)
    return problems
