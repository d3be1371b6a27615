"""The closed code lists of the eligibility answer (docs/answer.md). Values are the wire codes."""

from __future__ import annotations

import enum


class InsuredCardClassification(enum.StrEnum):
    """InsuredCardClassification: the kind of insurance card."""

    GENERAL = "01"  # 被保険者証（一般）
    RETIRED = "02"  # 被保険者証（退職）
    SHORT_TERM_GENERAL = "03"  # 短期被保険者証（一般）
    SHORT_TERM_RETIRED = "04"  # 短期被保険者証（退職）
    QUALIFICATION_CERTIFICATE = "05"  # 被保険者資格証明書
    SPECIAL_RETIREE = "06"  # 特例退職被保険者証
    SELF_DEFENSE_FORCES = "07"  # 自衛官診療証


class PersonalFamilyClassification(enum.StrEnum):
    """PersonalFamilyClassification: the insured person or a dependant."""

    INSURED = "1"  # 本人
    FAMILY = "2"  # 家族


class Sex(enum.StrEnum):
    """Sex1, and Sex2 (the sex the card's back shows, docs/answer.md)."""

    MALE = "1"
    FEMALE = "2"
    UNSET = "3"


class LimitCertificateChanged(enum.StrEnum):
    """LimitApplicationCertificateChanged: whether the 限度額適用認定証 information changed.
    Real answers carry the element; its values are unconfirmed: chosen (docs/domain.md)."""

    UNCHANGED = "0"
    CHANGED = "1"


class ContributionRatio(enum.StrEnum):
    """InsuredPartialContributionRatio: the copay as a 3-digit percentage."""

    TEN_PERCENT = "010"  # 1割
    TWENTY_PERCENT = "020"  # 2割
    THIRTY_PERCENT = "030"  # 3割


class PreschoolClassification(enum.StrEnum):
    """PreschoolClassification."""

    PRESCHOOL = "1"  # 未就学


class ReasonOfLoss(enum.StrEnum):
    """ReasonOfLoss: why a qualification ended."""

    DEATH = "01"
    WELFARE_STARTED = "02"  # 生活保護開始
    OTHER_INSURANCE_ACQUIRED = "03"
    OTHER = "99"


class LimitCertificateClassification(enum.StrEnum):
    """LimitApplicationCertificateClassification."""

    LIMIT = "01"  # 限度額適用
    LIMIT_AND_REDUCTION = "02"  # 限度額適用・標準負担額減額
    REDUCTION = "03"  # 標準負担額減額


class LimitIncomeClass(enum.StrEnum):
    """LimitApplicationCertificateClassificationFlag: the income class (A01–A06, B01–B10)."""

    A01 = "A01"
    A02 = "A02"
    A03 = "A03"
    A04 = "A04"
    A05 = "A05"
    A06 = "A06"
    B01 = "B01"
    B02 = "B02"
    B03 = "B03"
    B04 = "B04"
    B05 = "B05"
    B06 = "B06"
    B07 = "B07"
    B08 = "B08"
    B09 = "B09"
    B10 = "B10"


class SpecificDiseaseCategory(enum.StrEnum):
    """The category of a 特定疾病療養受療証 (SpecificDiseasesCertificateList)."""

    DIALYSIS = "1"  # 人工腎臓を実施している慢性腎不全
    HAEMOPHILIA = "2"  # 血友病
    HIV = "3"  # 抗ウイルス剤を投与している後天性免疫不全症候群


class QualificationValidity(enum.StrEnum):
    """QualificationValidity: the verdict on a qualification."""

    VALID = "1"  # 有効
    INVALID = "2"  # 無効
    INVALID_NEWER_EXISTS = "3"  # 無効（新しい資格あり）
    NOT_FOUND = "4"  # 該当資格なし
    SEVERAL = "5"  # 複数該当
