"""The eligibility answer as FHIR R4B: a CoverageEligibilityResponse that contains the
Patient, the insurers (Organization) and one Coverage per qualification, with JP Core's
JP_Coverage extensions for 記号・番号 and `dependent` = 枝番 (docs/answer.md). Pure."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse

from onshi_kernel.japan_time import JST
from qualification_server.contract.schemas import EligibilityAnswer, QualificationResult

JP_CORE = "http://jpfhir.jp/fhir/core"
EXT_SYMBOL = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol"
EXT_NUMBER = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber"
EXT_BRANCH = f"{JP_CORE}/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber"
INSURER_NUMBER_SYSTEM = "urn:oid:1.2.392.100495.20.3.61"  # 保険者番号
INSTITUTION_SYSTEM = "urn:oid:1.2.392.100495.20.3.23"  # 医療機関コード (unconfirmed)
GENDER = {"1": "male", "2": "female", "3": "unknown"}
RELATIONSHIP = {"1": "self", "2": "other"}
RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"


def _date(value: str | None) -> str | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y%m%d").date().isoformat()


def _coverage(index: int, r: QualificationResult, validity: str) -> dict[str, Any]:
    extensions = [{"url": EXT_NUMBER, "valueString": r.InsuredIdentificationNumber}]
    if r.InsuredCardSymbol:
        extensions.insert(0, {"url": EXT_SYMBOL, "valueString": r.InsuredCardSymbol})
    extensions.append({"url": EXT_BRANCH, "valueString": r.InsuredBranchNumber})
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
