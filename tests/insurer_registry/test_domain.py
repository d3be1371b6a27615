"""The rules of a member record, one per test, named by the rule."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    LimitCertificateClassification,
    PersonalFamilyClassification,
    ReasonOfLoss,
    Sex,
    SpecificDiseaseCategory,
)
from insurer_registry.members.domain import (
    ELEMENT_NAMES,
    ElderlyRecipientCertificate,
    FieldProblem,
    InvalidRecord,
    LimitApplicationCertificate,
    MemberRecord,
    SpecificDiseaseCertificate,
    changed_elements,
    elderly_recipient_eligible_from,
    input_problems,
    record_from_flat,
)


def record(**overrides: Any) -> MemberRecord:
    values: dict[str, Any] = {
        "number": "1234567",
        "branch": "00",
        "card_classification": InsuredCardClassification.GENERAL,
        "personal_family": PersonalFamilyClassification.INSURED,
        "name": "山田　太郎",
        "sex": Sex.MALE,
        "birthdate": date(1980, 4, 1),
        "qualification_date": date(2020, 4, 1),
    }
    values.update(overrides)
    return MemberRecord(**values)


def problems_of(**overrides: Any) -> list[FieldProblem]:
    with pytest.raises(InvalidRecord) as raised:
        record(**overrides)
    return list(raised.value.problems)


def fields_of(**overrides: Any) -> set[str]:
    return {problem.field for problem in problems_of(**overrides)}


def test_a_sound_record_builds() -> None:
    assert record().number == "1234567"


@pytest.mark.parametrize("branch", ["00", "01", "09", "99"])
def test_branch_number_is_two_digits_and_keeps_leading_zeros(branch: str) -> None:
    assert record(branch=branch).branch == branch


@pytest.mark.parametrize("branch", ["0", "1", "001", "ab", "０１", ""])
def test_branch_number_other_than_two_digits_is_refused(branch: str) -> None:
    assert fields_of(branch=branch) == {"InsuredBranchNumber"}


@pytest.mark.parametrize("symbol", [None, "12", "ＡＢ", "東京１", "あ" * 19])
def test_symbol_may_be_absent_digits_letters_or_kanji(symbol: str | None) -> None:
    assert record(symbol=symbol).symbol == symbol


def test_symbol_longer_than_38_bytes_is_refused() -> None:
    assert fields_of(symbol="あ" * 20) == {"InsuredCardSymbol"}


def test_symbol_that_shift_jis_cannot_carry_is_refused() -> None:
    assert fields_of(symbol="𠮷野") == {"InsuredCardSymbol"}


@pytest.mark.parametrize("blank", ["", " ", "\u3000"])
def test_blank_symbol_is_refused_rather_than_taken_as_absent(blank: str) -> None:
    assert fields_of(symbol=blank) == {"InsuredCardSymbol"}


def test_insured_number_is_required() -> None:
    assert fields_of(number="") == {"InsuredIdentificationNumber"}


def test_insured_number_longer_than_38_bytes_is_refused() -> None:
    assert fields_of(number="1" * 39) == {"InsuredIdentificationNumber"}


def test_name_is_required() -> None:
    assert fields_of(name=" ") == {"Name"}


def test_name_with_control_characters_is_refused() -> None:
    assert fields_of(name="山田\n太郎") == {"Name"}


@pytest.mark.parametrize("kana", ["ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ", "ヴァー"])
def test_kana_name_accepts_katakana_of_either_width(kana: str) -> None:
    assert record(name_kana=kana).name_kana == kana


@pytest.mark.parametrize("kana", ["やまだ", "山田", "YAMADA"])
def test_kana_name_refuses_anything_but_katakana(kana: str) -> None:
    assert fields_of(name_kana=kana) == {"NameKana"}


def test_post_number_is_123_hyphen_4567() -> None:
    assert record(post_number="100-8916").post_number == "100-8916"
    assert fields_of(post_number="1008916") == {"PostNumber"}


def test_qualification_before_birth_is_refused() -> None:
    assert fields_of(qualification_date=date(1979, 1, 1)) == {"QualificationDate"}


def test_qualification_on_the_birth_date_is_fine() -> None:
    assert record(qualification_date=date(1980, 4, 1)).qualification_date == date(1980, 4, 1)


def test_loss_before_acquisition_is_refused() -> None:
    found = fields_of(disqualification_date=date(2020, 3, 31), reason_of_loss=ReasonOfLoss.OTHER)
    assert found == {"DisqualificationDate"}


def test_loss_on_the_acquisition_date_is_allowed() -> None:
    same_day = record(disqualification_date=date(2020, 4, 1), reason_of_loss=ReasonOfLoss.OTHER)
    assert not same_day.is_valid_on(date(2020, 4, 1))


def test_loss_date_needs_a_reason() -> None:
    assert fields_of(disqualification_date=date(2021, 1, 1)) == {"ReasonOfLoss"}


def test_reason_without_loss_date_is_refused() -> None:
    assert fields_of(reason_of_loss=ReasonOfLoss.DEATH) == {"ReasonOfLoss"}


def test_loss_date_is_the_first_day_without_the_qualification() -> None:
    lost = record(disqualification_date=date(2024, 4, 1), reason_of_loss=ReasonOfLoss.OTHER)
    assert lost.is_valid_on(date(2024, 3, 31))
    assert not lost.is_valid_on(date(2024, 4, 1))
    assert not lost.is_valid_on(date(2020, 3, 31))


def test_card_expiring_before_issuance_is_refused() -> None:
    found = fields_of(
        certificate_issuance_date=date(2024, 4, 1), card_expiration_date=date(2024, 3, 31)
    )
    assert found == {"InsuredCardExpirationDate"}


def test_card_expiring_before_it_is_valid_is_refused() -> None:
    found = fields_of(card_valid_date=date(2024, 4, 1), card_expiration_date=date(2023, 3, 31))
    assert found == {"InsuredCardExpirationDate"}


def elderly(start: date, end: date) -> ElderlyRecipientCertificate:
    return ElderlyRecipientCertificate(
        valid_start=start, valid_end=end, contribution_ratio=ContributionRatio.TWENTY_PERCENT
    )


def test_elderly_certificate_starts_the_month_after_the_70th_birthday() -> None:
    assert elderly_recipient_eligible_from(date(1952, 8, 10)) == date(2022, 9, 1)
    assert elderly_recipient_eligible_from(date(1952, 8, 1)) == date(2022, 8, 1)
    assert elderly_recipient_eligible_from(date(1952, 12, 15)) == date(2023, 1, 1)


def test_elderly_certificate_for_someone_under_70_is_refused() -> None:
    found = fields_of(
        birthdate=date(1960, 1, 1), elderly=elderly(date(2024, 1, 1), date(2025, 1, 1))
    )
    assert found == {"ElderlyRecipientValidStartDate"}


def test_elderly_certificate_ending_before_it_starts_is_refused() -> None:
    found = fields_of(
        birthdate=date(1950, 1, 1), elderly=elderly(date(2024, 1, 1), date(2023, 1, 1))
    )
    assert found == {"ElderlyRecipientValidEndDate"}


def test_limit_certificate_ending_before_it_starts_is_refused() -> None:
    limit = LimitApplicationCertificate(
        classification=LimitCertificateClassification.LIMIT,
        valid_start=date(2024, 8, 1),
        valid_end=date(2024, 7, 31),
    )
    assert fields_of(limit=limit) == {"LimitApplicationCertificateValidEndDate"}


def test_the_same_specific_disease_certificate_twice_is_refused() -> None:
    certificate = SpecificDiseaseCertificate(
        category=SpecificDiseaseCategory.DIALYSIS, valid_start=date(2024, 1, 1)
    )
    assert fields_of(specific_diseases=(certificate, certificate)) == {
        "SpecificDiseasesCertificateList"
    }


def test_every_broken_rule_is_reported_at_once() -> None:
    found = fields_of(branch="1", name="", qualification_date=date(1970, 1, 1))
    assert found == {"InsuredBranchNumber", "Name", "QualificationDate"}


def test_problems_never_repeat_the_rejected_value() -> None:
    problems = problems_of(symbol="秘密の記号" * 10, name_kana="ひみつ")
    assert all("秘密" not in p.reason and "ひみつ" not in p.reason for p in problems)


def test_flat_fields_round_trip() -> None:
    full = record(
        symbol="東京",
        name_kana="ヤマダ",
        birthdate=date(1950, 1, 1),
        elderly=elderly(date(2020, 2, 1), date(2025, 1, 31)),
        limit=LimitApplicationCertificate(
            classification=LimitCertificateClassification.LIMIT, valid_start=date(2024, 1, 1)
        ),
    )
    assert record_from_flat(full.flat()) == full


def test_half_a_certificate_is_refused() -> None:
    flat = record().flat()
    flat["elderly_valid_start"] = date(2024, 1, 1)
    with pytest.raises(InvalidRecord) as raised:
        record_from_flat(flat)
    assert {p.field for p in raised.value.problems} == {
        "ElderlyRecipientValidEndDate",
        "ElderlyRecipientContributionRatio",
    }


def test_unknown_code_is_refused() -> None:
    flat = record().flat()
    flat["sex"] = "4"
    with pytest.raises(InvalidRecord, match="Sex1"):
        record_from_flat(flat)


def test_changed_elements_name_the_spec_elements() -> None:
    before = record()
    after = dataclasses.replace(before, name="山田　次郎", branch="01")
    assert changed_elements(before, after) == ("InsuredBranchNumber", "Name")


# What the registry takes in: no control (Cc) or format (Cf) character in a text field.
INVISIBLE = [
    ("\u202e", "U+202E"),  # right-to-left override: 山田 shown as 田山
    ("\u2066", "U+2066"),  # left-to-right isolate
    ("\u200b", "U+200B"),  # zero-width space: two names that look the same
    ("\u200d", "U+200D"),  # zero-width joiner
    ("\ufeff", "U+FEFF"),  # byte order mark
    ("\u00ad", "U+00AD"),  # soft hyphen
    ("\x07", "U+0007"),  # bell
    ("\x85", "U+0085"),  # next line (C1)
    ("\U000e0041", "U+E0041"),  # tag character
]


@pytest.mark.parametrize(("character", "said"), INVISIBLE, ids=[said for _, said in INVISIBLE])
@pytest.mark.parametrize("field", ["name", "insured_name", "address", "symbol", "number"])
def test_text_with_a_control_or_format_character_is_not_taken_in(
    field: str, character: str, said: str
) -> None:
    value = f"山田{character}太郎" if field != "number" else f"12{character}34"
    (problem,) = input_problems({field: value})
    assert problem == FieldProblem(
        ELEMENT_NAMES[field], f"contains {said} (a control or format character)"
    )
    assert "山田" not in problem.reason


def test_kana_with_a_format_character_is_refused_naming_the_character() -> None:
    (problem,) = input_problems({"name_kana": "ヤマダ\u200bタロウ"})
    assert problem.reason.startswith("contains U+200B")


@pytest.mark.parametrize(
    "name",
    [
        "山田　太郎",  # ideographic space (Zs)
        "𠮷野　家",  # outside the BMP
        "葛\U000e0100城",  # an ideographic variation selector (Mn): a registered glyph variant
        "髙橋　﨑子",
        "\ue000田",  # a private-use 外字 (Co)
        "O'Brien Smith-Jones",
    ],
)
def test_names_of_every_script_and_glyph_variant_are_taken_in(name: str) -> None:
    assert input_problems({"name": name, "insured_name": name}) == []
