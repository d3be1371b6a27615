"""The eligibility answer as FHIR R4B: a CoverageEligibilityResponse that contains the
Patient, the insurers (Organization) and one Coverage per qualification, with JP Core's
JP_Coverage extensions for 記号・番号 and `dependent` = 枝番, and the 限度額適用認定証 when
consented as this project's extension; a refusal as an OperationOutcome (docs/answer.md,
"The answer as FHIR"). Pure."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from onshi_kernel.japan_time import JST
from qualification_server.contract.schemas import EligibilityAnswer, LimitInfo, QualificationResult

JP_CORE = "http://jpfhir.jp/fhir/core"
EXT_SYMBOL = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol"
EXT_NUMBER = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber"
EXT_BRANCH = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber"
INSURER_NUMBER_SYSTEM = "urn:oid:1.2.392.100495.20.3.61"  # 保険者番号
INSTITUTION_SYSTEM = "urn:oid:1.2.392.100495.20.3.23"  # 医療機関コード (unconfirmed)
GENDER = {"1": "male", "2": "female", "3": "unknown"}
RELATIONSHIP = {"1": "self", "2": "other"}
RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
FHIR_JSON = "application/fhir+json"
# This project's own names [chosen]: JP Core has no 限度額適用認定証 element, and the error
# codes are the server's (qualification_server/contract/codes.py).
ONSHI = "urn:onshi:fhir"
EXT_LIMIT = f"{ONSHI}:StructureDefinition:limit-application-certificate"
LIMIT_CLASSIFICATION_SYSTEM = f"{ONSHI}:CodeSystem:limit-application-classification"
LIMIT_INCOME_CLASS_SYSTEM = f"{ONSHI}:CodeSystem:limit-application-income-class"
ERROR_CODE_SYSTEM = f"{ONSHI}:CodeSystem:error-code"
LIMIT_CLASSIFICATION = {
    "01": "限度額適用",
    "02": "限度額適用・標準負担額減額",
    "03": "標準負担額減額",
}


def _date(value: str | None) -> str | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y%m%d").date().isoformat()


def _limit_extension(info: LimitInfo) -> dict[str, Any]:
    """The 限度額適用認定証 as one complex extension: its classification (区分), income class
    (適用区分), issue date, validity period and long-term date (長期入院該当年月日), each a
    sub-extension present when the answer carries it."""
    classification = info.LimitApplicationCertificateClassification
    coding: dict[str, Any] = {"system": LIMIT_CLASSIFICATION_SYSTEM, "code": classification}
    if classification in LIMIT_CLASSIFICATION:
        coding["display"] = LIMIT_CLASSIFICATION[classification]
    parts: list[dict[str, Any]] = [{"url": "classification", "valueCoding": coding}]
    if info.LimitApplicationCertificateClassificationFlag:
        parts.append({"url": "incomeClass", "valueCoding": {
            "system": LIMIT_INCOME_CLASS_SYSTEM,
            "code": info.LimitApplicationCertificateClassificationFlag}})  # fmt: skip
    if info.LimitApplicationCertificateDate:
        parts.append({"url": "issued", "valueDate": _date(info.LimitApplicationCertificateDate)})
    period = {"start": _date(info.LimitApplicationCertificateValidStartDate)}
    if info.LimitApplicationCertificateValidEndDate:
        period["end"] = _date(info.LimitApplicationCertificateValidEndDate)
    parts.append({"url": "validPeriod", "valuePeriod": period})
    if info.LimitApplicationCertificateLongTermDate:
        parts.append(
            {
                "url": "longTermDate",
                "valueDate": _date(info.LimitApplicationCertificateLongTermDate),
            }
        )
    return {"url": EXT_LIMIT, "extension": parts}


def _coverage(index: int, r: QualificationResult, validity: str) -> dict[str, Any]:
    extensions = [{"url": EXT_NUMBER, "valueString": r.InsuredIdentificationNumber}]
    if r.InsuredCardSymbol:
        extensions.insert(0, {"url": EXT_SYMBOL, "valueString": r.InsuredCardSymbol})
    extensions.append({"url": EXT_BRANCH, "valueString": r.InsuredBranchNumber})
    # present only when the person consented at this visit (the wire answer's own rule)
    if r.LimitApplicationCertificateRelatedInfo is not None:
        extensions.append(_limit_extension(r.LimitApplicationCertificateRelatedInfo))
    period = {"start": _date(r.QualificationDate)}
    if r.DisqualificationDate:
        # the loss date is the first day without: the period ends the day before
        last = dt.datetime.strptime(r.DisqualificationDate, "%Y%m%d").date() - dt.timedelta(1)
        period["end"] = last.isoformat()
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": f"coverage-{index}",
        "extension": extensions,
        "status": "active" if validity in ("1", "5") else "cancelled",
        "type": {"coding": [{"system": "urn:oid:1.2.392.100495.20.2.61",
                             "code": r.InsuredCardClassification}]},
        "subscriberId": r.InsuredIdentificationNumber,
        "beneficiary": {"reference": "#patient"},
        "dependent": r.InsuredBranchNumber,
        "relationship": {"coding": [{"system": RELATIONSHIP_SYSTEM,
                                     "code": RELATIONSHIP[r.PersonalFamilyClassification]}]},
        "period": period,
        "payor": [{"reference": f"#insurer-{index}"}],
    }  # fmt: skip
    if r.InsuredPartialContributionRatio:
        coverage["costToBeneficiary"] = [
            {
                "type": {"text": "一部負担金割合"},
                "valueQuantity": {
                    "value": int(r.InsuredPartialContributionRatio),
                    "unit": "%",
                    "system": "http://unitsofmeasure.org",
                    "code": "%",
                },
            }
        ]
    return coverage


def _in_force(validity: str, loss: str | None, on: str) -> bool:
    """In force on the day asked about: a valid answer, and not lost by then (the loss date,
    DisqualificationDate, is the first day without it; one recorded in advance is later)."""
    return validity in ("1", "5") and (loss is None or on < loss)


def _disposition(answer: EligibilityAnswer) -> str:
    """The verdict, and the answer's code and message when it carries one (Q1007: answered
    in a certificate's grace, viewing consents refused)."""
    body = answer.MessageBody
    verdict = f"QualificationValidity {body.QualificationValidity}"
    if body.ProcessingResultCode is None:
        return verdict
    return f"{verdict}; {body.ProcessingResultCode} {body.ProcessingResultMessage or ''}".rstrip()


def coverage_eligibility_response(answer: EligibilityAnswer) -> dict[str, Any]:
    """FHIR JSON of an eligibility answer, validated by fhir.resources."""
    header, body = answer.MessageHeader, answer.MessageBody
    results = body.ResultList.ResultOfQualificationConfirmation if body.ResultList else []
    contained: list[dict[str, Any]] = []
    if results:
        first = results[0]
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": "patient",
            "name": [{"use": "official", "text": first.Name}],
            "gender": GENDER.get(first.Sex1, "unknown"),
            "birthDate": _date(first.Birthdate),
        }
        if first.NameKana:
            patient["name"].append(
                {
                    "use": "official",
                    "text": first.NameKana,
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                            "valueCode": "SYL",
                        }
                    ],
                }
            )
        contained.append(patient)
    for index, r in enumerate(results, start=1):
        contained.append(
            {
                "resourceType": "Organization",
                "id": f"insurer-{index}",
                "identifier": [{"system": INSURER_NUMBER_SYSTEM, "value": r.InsurerNumber.strip()}],
                "name": r.InsurerName,
            }
        )
        contained.append(_coverage(index, r, body.QualificationValidity))
    created = dt.datetime.strptime(header.ProcessExecutionTime, "%Y%m%d%H%M%S").replace(tzinfo=JST)
    resource = {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": ["validation"],
        "patient": {"reference": "#patient"} if results else {"display": "unknown"},
        "servicedDate": _date(header.QualificationConfirmationDate),
        "created": created.isoformat(),
        "requestor": {
            "identifier": {"system": INSTITUTION_SYSTEM, "value": header.MedicalInstitutionCode}
        },
        "request": {"display": "card check" if header.ReferenceClassification == "1"
                    else "insured-number lookup"},
        "outcome": "complete",
        "disposition": _disposition(answer),
        "insurer": {"reference": "#insurer-1"} if results else {"display": "unknown"},
        "insurance": [
            {"coverage": {"reference": f"#coverage-{i}"},
             "inforce": _in_force(body.QualificationValidity, r.DisqualificationDate,
                                  header.QualificationConfirmationDate)}
            for i, r in enumerate(results, start=1)
        ],
        "contained": contained,
    }  # fmt: skip
    return CoverageEligibilityResponse.model_validate(resource).model_dump(
        mode="json", exclude_none=True, by_alias=True
    )


# OperationOutcome.issue.code (http://hl7.org/fhir/issue-type) of each refusal; a code not
# listed takes its family's (FAMILY_ISSUE_TYPE, by its first two characters).
ISSUE_TYPE = {
    "Q1001": "structure",  # a certificate that cannot be parsed
    "Q1002": "security",  # not issued by a trusted issuer
    "Q1003": "expired",
    "Q1004": "business-rule",  # not yet valid
    "Q1005": "business-rule",  # revoked
    "Q1006": "transient",  # revocation cannot be checked now (fail closed)
    "Q2001": "not-found",
    "Q2002": "expired",
    "Q2003": "duplicate",
    "Q2004": "security",
    "Q2005": "security",
    "Q2006": "security",
    "Q2007": "business-rule",
    "Q2008": "business-rule",
    "Q2009": "business-rule",
    "Q2010": "required",
    "Q2011": "not-found",
    "Q2012": "expired",
    "Q2013": "duplicate",
    "Q2014": "security",
    # held back by policy until the insurer corrects or confirms it (FHIR: "suppressed")
    "Q3004": "suppressed",
    "Q4002": "throttled",
    "Q4003": "too-costly",
    "Q4005": "duplicate",
    "Q4006": "multiple-matches",
    "Q4007": "duplicate",
    "Q5001": "login",
    "Q5002": "forbidden",
    "Q5003": "login",
    "Q6001": "structure",
    "Q6002": "too-costly",
    "Q9001": "exception",
    "Q9002": "transient",
}
FAMILY_ISSUE_TYPE = {"Q3": "not-found", "Q4": "not-found", "Q9": "exception"}


def issue_type(code: str) -> str:
    """The FHIR issue type of one of the server's codes ("processing" when unknown)."""
    return ISSUE_TYPE.get(code) or FAMILY_ISSUE_TYPE.get(code[:2], "processing")


def operation_outcome(
    *, code: str, message: str, message_it: str | None, detail: str | None, request_id: str
) -> dict[str, Any]:
    """A refusal as an OperationOutcome with one error issue: its code and front-desk text
    (Japanese) as `details`, the IT text, the detail and the request id as `diagnostics`.
    Validated by fhir.resources as the success answer is."""
    diagnostics = "; ".join(p for p in (message_it, detail, f"request {request_id}") if p)
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error",
            "code": issue_type(code),
            "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": code,
                                    "display": message}],
                        "text": message},
            "diagnostics": diagnostics,
        }],
    }  # fmt: skip
    return OperationOutcome.model_validate(resource).model_dump(
        mode="json", exclude_none=True, by_alias=True
    )
