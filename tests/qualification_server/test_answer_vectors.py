"""Building the eligibility answer from registry records, as vectors: no database, no HTTP.
The validity codes (docs/answer.md), which qualifications are listed, and consent gating."""

from __future__ import annotations

import datetime as dt

import pytest

from insurer_registry.lookup.types import PersonQualifications, QualificationInfo
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    LimitCertificateClassification,
    LimitIncomeClass,
    PersonalFamilyClassification,
    ReasonOfLoss,
    Sex,
)
from insurer_registry.members.domain import LimitApplicationCertificate, MemberRecord
from onshi_kernel.numbers import InsurerNumber
from qualification_server.answers.eligibility import (
    AnswerContext,
    card_answer,
    insured_number_answer,
)
from qualification_server.contract.schemas import Consents, EligibilityAnswer

KYOKAI = InsurerNumber.parse("01130012")
ON = dt.date(2026, 12, 1)
CONTEXT = AnswerContext(
    clinic_code="1310000017",
    now=dt.datetime(2026, 12, 1, 1, 2, 3, tzinfo=dt.UTC),
    confirmation_date=ON,
    reference_classification="1",
)
LIMIT = LimitApplicationCertificate(
    classification=LimitCertificateClassification.LIMIT,
    valid_start=dt.date(2026, 4, 1),
    income_class=LimitIncomeClass.A03,
)


def qualification(
    qid: int, number: str, start: dt.date, loss: dt.date | None = None, **extra: object
) -> QualificationInfo:
    record = MemberRecord(  # type: ignore[arg-type]
        number=number, branch="00", card_classification=InsuredCardClassification.GENERAL,
        personal_family=PersonalFamilyClassification.INSURED, name="山田 太郎",
        name_kana="ヤマダ タロウ", sex=Sex("1"), birthdate=dt.date(1980, 4, 1),
        qualification_date=start, disqualification_date=loss,
        reason_of_loss=ReasonOfLoss.OTHER if loss else None,
        contribution_ratio=ContributionRatio.THIRTY_PERCENT, **extra,
    )  # fmt: skip
    return QualificationInfo(qid, KYOKAI, "全国健康保険協会 東京支部", record)


def person(*qualifications: QualificationInfo) -> PersonQualifications:
    return PersonQualifications("ab" * 32, qualifications)


def listed(answer: EligibilityAnswer) -> list[str]:
    results = answer.MessageBody.ResultList
    if results is None:
        return []
    return [r.InsuredIdentificationNumber for r in results.ResultOfQualificationConfirmation]


@pytest.mark.parametrize(
    ("qualifications", "validity", "shown"),
    [
        ((qualification(1, "1001", dt.date(2010, 4, 1)),), "1", ["1001"]),
        ((qualification(1, "1001", dt.date(2010, 4, 1), loss=dt.date(2026, 1, 1)),), "2", ["1001"]),
        ((), "4", []),
        (
            (qualification(2, "2002", dt.date(2020, 4, 1)),
             qualification(1, "1001", dt.date(2010, 4, 1))),
            "5", ["2002", "1001"],
        ),
        # a loss recorded in advance: still valid today
        ((qualification(1, "1001", dt.date(2010, 4, 1), loss=dt.date(2027, 1, 1)),), "1", ["1001"]),
    ],
)  # fmt: skip
def test_a_card_answer_says_how_the_person_is_qualified_on_the_day(
    qualifications: tuple[QualificationInfo, ...], validity: str, shown: list[str]
) -> None:
    answer = card_answer(person(*qualifications), Consents(), CONTEXT)
    assert answer.MessageBody.QualificationValidity == validity
    assert listed(answer) == shown
    assert answer.MessageHeader.QualificationConfirmationDate == "20261201"
    assert answer.MessageHeader.ProcessExecutionTime == "20261201100203"  # Japan time


def test_an_insured_number_answer_is_3_when_a_newer_qualification_replaced_it() -> None:
    old = qualification(1, "1001", dt.date(2010, 4, 1), loss=dt.date(2024, 10, 1))
    new = qualification(2, "2002", dt.date(2024, 10, 1))
    answer = insured_number_answer([(person(new, old), old)], Consents(), CONTEXT)
    assert answer.MessageBody.QualificationValidity == "3"
    assert listed(answer) == ["1001"]


def test_an_insured_number_answer_of_several_holders_is_5_with_each_listed() -> None:
    # twins under one card number without 枝番: each person's own qualification, in order
    first = qualification(1, "1001", dt.date(2015, 5, 5))
    second = qualification(2, "1002", dt.date(2015, 5, 5))
    answer = insured_number_answer(
        [(person(first), first), (person(second), second)], Consents(), CONTEXT
    )
    assert answer.MessageBody.QualificationValidity == "5"
    assert listed(answer) == ["1001", "1002"]


@pytest.mark.parametrize("consented", [False, True])
def test_the_limit_certificate_is_shown_only_with_consent(consented: bool) -> None:
    answer = card_answer(
        person(qualification(1, "1001", dt.date(2010, 4, 1), limit=LIMIT)),
        Consents(limit_application=consented),
        CONTEXT,
    )
    (result,) = answer.MessageBody.ResultList.ResultOfQualificationConfirmation  # type: ignore[union-attr]
    assert result.LimitApplicationCertificateRelatedConsFlg == ("1" if consented else "0")
    assert (result.LimitApplicationCertificateRelatedInfo is not None) is consented
