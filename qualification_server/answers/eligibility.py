"""Eligibility answers (docs/answer.md) from the registry's qualifications. No I/O.

Consent-gated parts are present only when the person consented at this visit; otherwise the
flag says "0" and the details are absent. A card whose certificate is in its expiry grace is
answered with every viewing consent refused, whatever the request says, and the answer
carries Q1007 (docs/answer.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from onshi_kernel.japan_time import japan_date, timestamp, yyyymmdd
from qualification_server.contract.schemas import (
    AnswerBody,
    AnswerHeader,
    Consents,
    DiseaseInfo,
    ElderlyInfo,
    EligibilityAnswer,
    Flag,
    LimitInfo,
    QualificationResult,
    Results,
    Validity,
)
from qualification_server.errors import CATALOGUE, Code, QualificationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from insurer_registry.lookup.types import (
        HeldQualification,
        PersonQualifications,
        QualificationInfo,
    )

# How long a viewing consent given at the desk lasts (unconfirmed in the real system).
VIEWING_CONSENT_PERIOD = dt.timedelta(days=1)
# The consents to view medical data (not qualification information): refused in grace.
VIEWING_CONSENTS = ("medication", "health_checkups", "diagnosis", "operation")


def ymd(day: dt.date | None) -> str | None:
    return yyyymmdd(day) if day else None


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """Who asked, when, and for which day."""

    clinic_code: str
    now: dt.datetime
    confirmation_date: dt.date
    reference_classification: str  # "1" card, "2" insured-card number
    arbitrary_file_identifier: str | None = None
    credential_classification: Literal["1", "2"] | None = None  # "1" card, "2" smartphone

    def header(self) -> AnswerHeader:
        return AnswerHeader(
            ProcessExecutionTime=timestamp(self.now),
            QualificationConfirmationDate=yyyymmdd(self.confirmation_date),
            MedicalInstitutionCode=self.clinic_code,
            ArbitraryFileIdentifier=self.arbitrary_file_identifier,
            ReferenceClassification="1" if self.reference_classification == "1" else "2",
            CredentialClassification=self.credential_classification,
        )


def _flag(given: bool) -> Flag:
    return "1" if given else "0"


def result_of(info: QualificationInfo, consents: Consents, now: dt.datetime) -> QualificationResult:
    """One ResultOfQualificationConfirmation, consent-gated parts only when consented."""
    r = info.record
    consent_time = timestamp(now)
    available = timestamp(now + VIEWING_CONSENT_PERIOD)
    elderly = (
        ElderlyInfo(
            ElderlyRecipientCertificateDate=ymd(r.elderly.certificate_date),
            ElderlyRecipientValidStartDate=yyyymmdd(r.elderly.valid_start),
            ElderlyRecipientValidEndDate=yyyymmdd(r.elderly.valid_end),
            ElderlyRecipientContributionRatio=r.elderly.contribution_ratio.value,
        )
        if r.elderly
        else None
    )
    limit = (
        LimitInfo(
            LimitApplicationCertificateClassification=r.limit.classification.value,
            LimitApplicationCertificateClassificationFlag=(
                r.limit.income_class.value if r.limit.income_class else None
            ),
            LimitApplicationCertificateDate=ymd(r.limit.certificate_date),
            LimitApplicationCertificateValidStartDate=yyyymmdd(r.limit.valid_start),
            LimitApplicationCertificateValidEndDate=ymd(r.limit.valid_end),
            LimitApplicationCertificateLongTermDate=ymd(r.limit.long_term_date),
        )
        if r.limit and consents.limit_application
        else None
    )
    diseases = (
        [
            DiseaseInfo(
                SpecificDiseasesDiseaseCategory=d.category.value,
                SpecificDiseasesValidStartDate=yyyymmdd(d.valid_start),
                SpecificDiseasesValidEndDate=ymd(d.valid_end),
                SpecificDiseasesCertificateDate=ymd(d.certificate_date),
                SpecificDiseasesSelfPay=(
                    str(d.self_pay_limit_yen) if d.self_pay_limit_yen is not None else None
                ),
            )
            for d in r.specific_diseases
        ]
        if r.specific_diseases and consents.specific_diseases
        else None
    )

    def viewing(given: bool) -> tuple[Flag, str | None, str | None]:
        return (_flag(given), consent_time if given else None, available if given else None)

    pharmacists = viewing(consents.medication)
    checkups = viewing(consents.health_checkups)
    diagnosis = viewing(consents.diagnosis)
    operation = viewing(consents.operation)
    return QualificationResult(
        InsuredCardClassification=r.card_classification.value,
        InsurerNumber=info.insurer_number.wire,
        InsuredCardSymbol=r.symbol,
        InsuredIdentificationNumber=r.number,
        InsuredBranchNumber=r.branch,
        PersonalFamilyClassification=r.personal_family.value,
        InsuredName=r.insured_name,
        Name=r.name,
        NameOfOther=r.name_of_other,
        NameKana=r.name_kana,
        NameOfOtherKana=r.name_of_other_kana,
        Sex1=r.sex.value,
        Sex2=r.sex2.value if r.sex2 else None,
        Birthdate=yyyymmdd(r.birthdate),
        Address=r.address,
        PostNumber=r.post_number,
        QualificationDate=yyyymmdd(r.qualification_date),
        DisqualificationDate=ymd(r.disqualification_date),
        InsuredCertificateIssuanceDate=ymd(r.certificate_issuance_date),
        InsuredCardValidDate=ymd(r.card_valid_date),
        InsuredCardExpirationDate=ymd(r.card_expiration_date),
        InsuredPartialContributionRatio=r.contribution_ratio.value
        if r.contribution_ratio
        else None,
        PreschoolClassification=r.preschool.value if r.preschool else None,
        ReasonOfLoss=r.reason_of_loss.value if r.reason_of_loss else None,
        InsurerName=info.insurer_name,
        ElderlyRecipientCertificateInfo=elderly,
        # Not consent-gated: it says that the 限度額 information changed, not what it is.
        LimitApplicationCertificateChanged=r.limit_changed.value if r.limit_changed else None,
        LimitApplicationCertificateRelatedConsFlg=_flag(consents.limit_application),
        LimitApplicationCertificateRelatedConsTime=(
            consent_time if consents.limit_application else None
        ),
        LimitApplicationCertificateRelatedInfo=limit,
        SpecificDiseasesCertificateRelatedConsFlg=_flag(consents.specific_diseases),
        SpecificDiseasesCertificateRelatedConsTime=(
            consent_time if consents.specific_diseases else None
        ),
        SpecificDiseasesCertificateList=diseases,
        PharmacistsInfoConsFlg=pharmacists[0],
        PharmacistsInfoConsTime=pharmacists[1],
        PharmacistsInfoAvailableTime=pharmacists[2],
        SpecificHealthCheckupsInfoConsFlg=checkups[0],
        SpecificHealthCheckupsInfoConsTime=checkups[1],
        SpecificHealthCheckupsInfoAvailableTime=checkups[2],
        DiagnosisInfoConsFlg=diagnosis[0],
        DiagnosisInfoConsTime=diagnosis[1],
        DiagnosisInfoAvailableTime=diagnosis[2],
        OperationInfoConsFlg=operation[0],
        OperationInfoConsTime=operation[1],
        OperationInfoAvailableTime=operation[2],
    )


def card_answer(
    person: PersonQualifications,
    consents: Consents,
    context: AnswerContext,
    *,
    in_grace: bool = False,
) -> EligibilityAnswer:
    """The answer to a card check: the person's qualifications on the confirmation date.

    1 one valid, 5 several valid (all listed), 2 none valid any more (the latest listed),
    4 never qualified (no result). `in_grace`: the card's certificate expired and is in its
    grace: qualification information only (the 限度額 and 特定疾病 parts still as consented
    [chosen]), no viewing consent, and the answer marked Q1007.
    """
    validity = person.validity_on(context.confirmation_date)
    if validity.value in ("1", "5"):
        shown = person.current(context.confirmation_date)
    else:
        if person.held:
            # Nothing valid to answer, and a qualification held back: say it is held, not
            # that there is none (docs/linkage.md).
            raise QualificationError(Code.QUALIFICATION_HELD, held_detail(person.held))
        shown = person.qualifications[:1]
    if not in_grace:
        return _answer(validity.value, shown, consents, context)
    qualification_only = consents.model_copy(update=dict.fromkeys(VIEWING_CONSENTS, False))
    answer = _answer(validity.value, shown, qualification_only, context)
    marked = answer.MessageBody.model_copy(
        update={
            "ProcessingResultCode": Code.ANSWERED_IN_GRACE.value,
            "ProcessingResultMessage": CATALOGUE[Code.ANSWERED_IN_GRACE].front_desk,
        }
    )
    return answer.model_copy(update={"MessageBody": marked})


def held_detail(held: Sequence[HeldQualification]) -> str:
    """What a Q3004 names for IT: the insurers and the items that differ, never a value."""
    return "; ".join(
        f"insurer {h.insurer_number.digits}: "
        + ("the issuer knows no such person" if not h.person_known else ", ".join(h.differing))
        for h in held
    )


def insured_number_answer(
    matches: Sequence[tuple[PersonQualifications, QualificationInfo]],
    consents: Consents,
    context: AnswerContext,
) -> EligibilityAnswer:
    """The answer to a lookup by insured number: each matched qualification (one per
    person). One match: its validity, 3 when it ended and a newer one of the same person
    exists. Several (a card number without 枝番 whose holders share the birth date): 5,
    each as its own result."""
    if len(matches) == 1:
        person, chosen = matches[0]
        validity = person.validity_of(chosen.qualification_id, context.confirmation_date)
        return _answer(validity.value, (chosen,), consents, context)
    return _answer("5", tuple(chosen for _, chosen in matches), consents, context)


def _answer(
    validity: Validity,
    shown: tuple[QualificationInfo, ...],
    consents: Consents,
    context: AnswerContext,
) -> EligibilityAnswer:
    results = [result_of(q, consents, context.now) for q in shown]
    return EligibilityAnswer(
        MessageHeader=context.header(),
        MessageBody=AnswerBody(
            ProcessingResultStatus="1",
            QualificationValidity=validity,
            ResultList=Results(ResultOfQualificationConfirmation=results) if results else None,
        ),
    )


def confirmation_date(value: str | None, now: dt.datetime) -> dt.date:
    """The day asked about (`YYYYMMDD`), or today in Japan."""
    if value is None:
        return japan_date(now)
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise QualificationError(
            Code.INVALID_REQUEST, "QualificationConfirmationDate is not a date"
        ) from None


def answer_summary(answer: EligibilityAnswer, qualifications: tuple[Any, ...]) -> dict[str, Any]:
    """What the access log keeps of an answer: its validity, how many results, which
    qualifications (never a name or a birth date), and its code when it carries one (Q1007,
    answered in grace)."""
    results = answer.MessageBody.ResultList
    summary: dict[str, Any] = {
        "validity": answer.MessageBody.QualificationValidity,
        "results": len(results.ResultOfQualificationConfirmation) if results else 0,
        "qualification_ids": [q.qualification_id for q in qualifications],
    }
    if answer.MessageBody.ProcessingResultCode:  # Q1007: answered in grace
        summary["code"] = answer.MessageBody.ProcessingResultCode
    return summary
