"""HTTP bodies. The eligibility answer mirrors docs/answer.md: its field names are the element names
real clinic software parses (`XmlMsg/MessageHeader/…`, `MessageBody/ResultList/…`), its values
plain text with leading zeros kept. Absent elements are omitted, never null."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from onshi_kernel import errors as kernel_errors
from onshi_kernel.patterns import (
    INSURER_NUMBER_DESCRIPTION,
    INSURER_NUMBER_PATTERN,
    WIRE_DATE_PATTERN,
)
from qualification_server.contract.presence import CHALLENGE_BYTES as TOKEN_SIZE
from qualification_server.contract.presence import PASSCODE_PATTERN

# Standard or URL-safe base64, padded: what `service.decode_b64` decodes.
_B64 = "[A-Za-z0-9+/_-]"
Base64 = Annotated[
    str, Field(pattern=f"^(?:{_B64}{{4}})*(?:{_B64}{{2}}==|{_B64}{{3}}=)?$", max_length=8192)
]


def _base64_of(size: int) -> str:
    """The pattern of `size` bytes in padded base64."""
    full, rest = divmod(size, 3)
    tail = {0: "", 1: f"{_B64}{{2}}==", 2: f"{_B64}{{3}}="}[rest]
    return f"^{_B64}{{{4 * full}}}{tail}$"


ChallengeText = Annotated[
    str,
    Field(
        pattern=_base64_of(TOKEN_SIZE),
        description=f"a challenge this server issued ({TOKEN_SIZE} bytes in base64); one it "
        "did not issue is refused with Q2001, an expired one with Q2002",
    ),
]
Yyyymmdd = Annotated[
    str, Field(pattern=WIRE_DATE_PATTERN, description="a calendar date as YYYYMMDD")
]
Flag = Literal["0", "1"]
Validity = Literal["1", "2", "3", "4", "5"]


def _utc(value: dt.datetime) -> dt.datetime:
    # Times are stored in UTC; SQLite hands them back without their zone.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spec(BaseModel):
    """The answer's element names are CapWords on purpose."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- challenges -------------------------------------------------------------------------


class ChallengeRequest(Strict):
    purpose: Literal["check", "registration"] = "check"


class PortalChallengeRequest(Strict):
    purpose: Literal["portal", "registration"] = "portal"


class ChallengeResponse(Strict):
    challenge: Base64 = Field(description="base64; the card signs SHA-256 of its bytes")
    challenge_id: str
    expires_at: dt.datetime


# --- the card check -----------------------------------------------------------------------


class PinProof(Strict):
    method: Literal["pin"]
    signature: Base64 = Field(description="the card's PKCS#1 v1.5 signature of SHA-256(challenge)")


class DeviceProof(Strict):
    method: Literal["face", "visual"]
    device_id: str = Field(min_length=1, max_length=64)
    signature: Base64 = Field(description="Ed25519 signature by the registered device")
    passcode: str | None = Field(
        default=None,
        pattern=PASSCODE_PATTERN,
        description="visual checks only: the 目視確認用パスコード this server issued to the "
        "clinic (POST /v1/visual-passcodes), one per check; a visual check without one is "
        "Q2010, one on a face check Q6001",
    )


class Consents(Strict):
    """What the person agreed to share at this visit (each defaults to no)."""

    limit_application: bool = False  # 限度額適用認定証 information
    specific_diseases: bool = False  # 特定疾病療養受療証
    medication: bool = False  # 薬剤情報 (PharmacistsInfo)
    health_checkups: bool = False  # 特定健診情報
    diagnosis: bool = False  # 診療情報
    operation: bool = False  # 手術情報


CERTIFICATE_DESCRIPTION = (
    "the JPKI auth certificate, DER in base64 (one that is no DER certificate is refused "
    "with Q1001)"
)


class CardCheckRequest(Strict):
    challenge: ChallengeText
    certificate: Base64 = Field(description=CERTIFICATE_DESCRIPTION)
    proof: Annotated[PinProof | DeviceProof, Field(discriminator="method")]
    consents: Consents = Consents()
    qualification_confirmation_date: Yyyymmdd | None = None
    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


class InsuredCardQuery(Spec):
    """個別照会 by what a health insurance card shows (element names of docs/file-interface.md)."""

    InsurerNumber: str = Field(
        min_length=6,
        max_length=8,
        pattern=INSURER_NUMBER_PATTERN,
        description=INSURER_NUMBER_DESCRIPTION,
    )
    InsuredCardSymbol: str | None = Field(default=None, max_length=38)
    InsuredIdentificationNumber: str = Field(min_length=1, max_length=38)
    InsuredBranchNumber: str | None = Field(
        default=None,
        pattern=r"^[0-9]{2}$",
        description="枝番; real receipt computers leave it out: then every branch of the card "
        "number whose holder has the birth date matches (several: QualificationValidity 5)",
    )
    Birthdate: Yyyymmdd
    LimitApplicationCertificateRelatedConsFlg: Flag = "0"


class InsuredNumberLookupRequest(Strict):
    query: InsuredCardQuery
    qualification_confirmation_date: Yyyymmdd | None = None
    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


# --- the answer (docs/answer.md) ------------------------------------------------------------


class AnswerHeader(Spec):
    ProcessExecutionTime: str
    QualificationConfirmationDate: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    ReferenceClassification: Literal["1", "2"]
    # What the card check read [chosen: the real element is not published, docs/answer.md]:
    # "1" a My Number card (the face card too), "2" a smartphone (スマホ用電子証明書). Only in
    # the answer of a card check.
    CredentialClassification: Literal["1", "2"] | None = None
    SegmentOfResult: Literal["1", "2", "9"] = "1"
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    CharacterCodeIdentifier: Flag = "0"


class ElderlyInfo(Spec):
    ElderlyRecipientCertificateDate: str | None = None
    ElderlyRecipientValidStartDate: str
    ElderlyRecipientValidEndDate: str
    ElderlyRecipientContributionRatio: str


class LimitInfo(Spec):
    LimitApplicationCertificateClassification: str
    LimitApplicationCertificateClassificationFlag: str | None = None
    LimitApplicationCertificateDate: str | None = None
    LimitApplicationCertificateValidStartDate: str
    LimitApplicationCertificateValidEndDate: str | None = None
    LimitApplicationCertificateLongTermDate: str | None = None


class DiseaseInfo(Spec):
    """One 特定疾病療養受療証: in an answer file, one `SpecificDiseasesCertificateList` element
    each, holding these directly (docs/answer.md)."""

    SpecificDiseasesDiseaseCategory: str
    SpecificDiseasesCertificateDate: str | None = None
    SpecificDiseasesValidStartDate: str
    SpecificDiseasesValidEndDate: str | None = None
    SpecificDiseasesSelfPay: str | None = None


class QualificationResult(Spec):
    InsuredCardClassification: str
    InsurerNumber: str
    InsuredCardSymbol: str | None = None
    InsuredIdentificationNumber: str
    InsuredBranchNumber: str
    PersonalFamilyClassification: str
    InsuredName: str | None = None
    Name: str
    NameOfOther: str | None = None
    NameKana: str | None = None
    NameOfOtherKana: str | None = None
    Sex1: str
    Sex2: str | None = None
    Birthdate: str
    Address: str | None = None
    PostNumber: str | None = None
    QualificationDate: str
    DisqualificationDate: str | None = None
    InsuredCertificateIssuanceDate: str | None = None
    InsuredCardValidDate: str | None = None
    InsuredCardExpirationDate: str | None = None
    InsuredPartialContributionRatio: str | None = None
    PreschoolClassification: str | None = None
    ReasonOfLoss: str | None = None
    InsurerName: str
    ElderlyRecipientCertificateInfo: ElderlyInfo | None = None
    LimitApplicationCertificateChanged: Flag | None = None
    LimitApplicationCertificateRelatedConsFlg: Flag = "0"
    LimitApplicationCertificateRelatedConsTime: str | None = None
    LimitApplicationCertificateRelatedInfo: LimitInfo | None = None
    SpecificDiseasesCertificateRelatedConsFlg: Flag = "0"
    SpecificDiseasesCertificateRelatedConsTime: str | None = None
    SpecificDiseasesCertificateList: list[DiseaseInfo] | None = None
    PharmacistsInfoConsFlg: Flag = "0"
    PharmacistsInfoConsTime: str | None = None
    PharmacistsInfoAvailableTime: str | None = None
    SpecificHealthCheckupsInfoConsFlg: Flag = "0"
    SpecificHealthCheckupsInfoConsTime: str | None = None
    SpecificHealthCheckupsInfoAvailableTime: str | None = None
    DiagnosisInfoConsFlg: Flag = "0"
    DiagnosisInfoConsTime: str | None = None
    DiagnosisInfoAvailableTime: str | None = None
    OperationInfoConsFlg: Flag = "0"
    OperationInfoConsTime: str | None = None
    OperationInfoAvailableTime: str | None = None
    ReferenceNumber: str | None = None


class Results(Spec):
    ResultOfQualificationConfirmation: list[QualificationResult]


class AnswerBody(Spec):
    # 紙/電子処方箋 as chosen at the reader ("1" electronic, "2" paper); the server never
    # sets it (docs/answer.md), an answer that carries it still reads.
    PrescriptionIssueSelect: Literal["1", "2"] | None = None
    ProcessingResultStatus: Literal["1", "2"] = "1"
    ProcessingResultCode: str | None = None
    ProcessingResultMessage: str | None = None
    QualificationValidity: Validity
    ResultList: Results | None = None


class EligibilityAnswer(Spec):
    MessageHeader: AnswerHeader
    MessageBody: AnswerBody


# --- errors ------------------------------------------------------------------------------


class ErrorBody(kernel_errors.ErrorBody):
    """The kernel's error body, as clinic_client parses it: no field of the server's own."""

    code: str = Field(description="stable numbered code, e.g. Q1005 (contract.codes)")


class ErrorResponse(kernel_errors.ErrorResponse):
    error: ErrorBody


# --- registration and the portal --------------------------------------------------------------


class CardProof(Strict):
    """PIN-mode proof: the card signed SHA-256(challenge) after VERIFY PIN."""

    challenge: ChallengeText
    certificate: Base64 = Field(description=CERTIFICATE_DESCRIPTION)
    signature: Base64


class RegistrationRequest(Strict):
    proof: CardProof
    # Published as `true` only: false is refused with its own code (Q2007), not as a schema
    # mismatch (Q6001), so the model still takes it.
    consent: Annotated[
        bool,
        WithJsonSchema(
            {
                "const": True,
                "type": "boolean",
                "description": "the person agreed to use the card as insurance card; "
                "registration needs it (without it: Q2007)",
            }
        ),
    ]


class RegistrationResult(Strict):
    registered: bool
    already_registered: bool
    insurers: list[str]


class PortalRequest(Strict):
    proof: CardProof


class AccessEntry(Strict):
    """One lookup of the person's data, as the portal shows it (情報提供等記録)."""

    recorded_at: UtcDateTime
    clinic_code: str | None
    clinic_name: str | None
    method: str
    reference: str | None
    outcome: str
    # What was answered, for the portal to say in words (added fields, absent in old answers):
    # "answered" with the QualificationValidity, or "refused" with the numbered code.
    result: Literal["answered", "refused", "done"] | None = Field(
        default=None,
        description="answered (a qualification answer), refused (a numbered refusal) or done "
        "(a registration, its withdrawal, a viewing)",
    )
    validity: Validity | None = Field(default=None, description="QualificationValidity answered")
    error_code: str | None = Field(default=None, description="the refusal's code, e.g. Q3001")
    credential: Literal["card", "smartphone"] | None = Field(
        default=None, description="a card check: read from a card or a smartphone"
    )
    # Added (the access log's tree, docs/access-log.md): what the person checks the record by.
    leaf: str | None = Field(
        default=None,
        description="the record's bytes exactly as the log hashes them (base64): its leaf is "
        "SHA-256(0x00 ‖ these bytes); None while the record is not sealed yet",
    )
    leaf_index: int | None = Field(default=None, description="its place in the tree, from 0")
    inclusion_proof: list[str] | None = Field(
        default=None,
        description="its audit path (base64 hashes, RFC 9162 order) in the tree of the "
        "answer's `checkpoint`; None while the record is newer than that checkpoint",
    )


class PortalInsurer(Strict):
    """One insurer the person is currently qualified with (what the portal shows)."""

    insurer_number: str = Field(description="6 or 8 digits")
    insurer_name: str


class PortalRegistration(Strict):
    """The person's registration for use as a health insurance card (利用登録)."""

    registered_at: UtcDateTime
    registered_via: Literal["portal", "clinic"]
    clinic_code: str | None = Field(default=None, description="the clinic it was made at")
    clinic_name: str | None = None
    insurers: list[PortalInsurer]


LinkageItem = Literal["Name", "Birthdate", "Sex1", "Address"]


class PortalLinkage(Spec):
    """One event of the linkage of the person's My Number by an insurer, as the person sees
    it (issue 17): the registry's linkage history under its own element names. The outcome
    of each item, never its value; the My Number by its last 4 digits only."""

    At: UtcDateTime
    InsurerNumber: str = Field(description="6 or 8 digits")
    InsurerName: str
    Event: Literal["linked", "rematched", "confirmed", "released", "unlinked"] = Field(
        description="linked (registered), rematched (the four items or the My Number "
        "corrected, matched again), confirmed (one of the insurer's users confirmed a held "
        "linkage), released (the second one did: answered from now on), unlinked (corrected "
        "to another person's My Number)"
    )
    State: Literal["matched", "held", "confirmed", "pending"] = Field(
        description="the linkage after the event: matched and confirmed are answered, held "
        "and pending (never matched) are not"
    )
    PersonKnownToIssuer: bool = Field(
        description="false: the card issuer's register does not know the person, no item "
        "was compared"
    )
    Outcomes: dict[LinkageItem, Literal["match", "mismatch", "not_given"]] = Field(
        description="per item of the issuer's match; empty when none was compared"
    )
    MyNumberLast4: str | None = Field(
        pattern=r"^[0-9]{4}$",
        description="the last 4 digits of the My Number it was linked by; null when the "
        "registry does not know them (and on an unlinked event, whose number is now "
        "another person's)",
    )


class AccessHistory(Strict):
    entries: list[AccessEntry]
    # Added: the registration itself, None when the card's holder is not registered.
    registration: PortalRegistration | None = None
    # Added (issue 17): who linked the person's My Number, oldest first. Named as the
    # registry names its linkage history, whose entries these are.
    Linkages: list[PortalLinkage] = Field(default=[])
    # Added: the latest witnessed checkpoint of the access log (a C2SP signed note with the
    # log's signature and the witnesses' cosignatures), the tree the entries' proofs are in.
    checkpoint: str | None = Field(
        default=None,
        description="the latest witnessed checkpoint note of the access log; None before the "
        "first one",
    )
