"""HTTP bodies of the member API. Field aliases are the answer's element names; separate
models for create, correct, loss and the public view, so the My Number is write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from insurer_registry.errors import CallerMistake
from insurer_registry.linkage.schemas import LinkagePublic
from insurer_registry.members.audit import Change
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
from insurer_registry.members.domain import (
    ElderlyRecipientCertificate,
    InvalidRecord,
    LimitApplicationCertificate,
    MemberRecord,
    SpecificDiseaseCertificate,
    accepted_record,
    taken_in,
)
from insurer_registry.members.schemas_common import (
    SPEC_NAMES,
    AddressText,
    BranchNumber,
    InsuredNumberPart,
    InsurerNumberText,
    KanaText,
    MyNumber,
    NameText,
    PostNumberText,
    WireDate,
)
from insurer_registry.members.service import Member

# The self-pay limit is a 32-bit integer in the database.
SELF_PAY_MAX_YEN = 2**31 - 1


class ElderlyCertificateBody(BaseModel):
    """ElderlyRecipientCertificateInfo (高齢受給者証)."""

    model_config = SPEC_NAMES

    certificate_date: WireDate | None = Field(None, alias="ElderlyRecipientCertificateDate")
    valid_start: WireDate = Field(alias="ElderlyRecipientValidStartDate")
    valid_end: WireDate = Field(alias="ElderlyRecipientValidEndDate")
    contribution_ratio: ContributionRatio = Field(alias="ElderlyRecipientContributionRatio")

    def value(self) -> ElderlyRecipientCertificate:
        """The domain value."""
        return ElderlyRecipientCertificate(**self.model_dump(by_alias=False))

    @classmethod
    def of(cls, value: ElderlyRecipientCertificate) -> ElderlyCertificateBody:
        """The body of a domain value."""
        return cls.model_validate(_fields(value), by_name=True)


class LimitCertificateBody(BaseModel):
    """LimitApplicationCertificateRelatedInfo (限度額適用認定証)."""

    model_config = SPEC_NAMES

    classification: LimitCertificateClassification = Field(
        alias="LimitApplicationCertificateClassification"
    )
    income_class: LimitIncomeClass | None = Field(
        None, alias="LimitApplicationCertificateClassificationFlag"
    )
    certificate_date: WireDate | None = Field(None, alias="LimitApplicationCertificateDate")
    valid_start: WireDate = Field(alias="LimitApplicationCertificateValidStartDate")
    valid_end: WireDate | None = Field(None, alias="LimitApplicationCertificateValidEndDate")
    long_term_date: WireDate | None = Field(None, alias="LimitApplicationCertificateLongTermDate")

    def value(self) -> LimitApplicationCertificate:
        """The domain value."""
        return LimitApplicationCertificate(**self.model_dump(by_alias=False))

    @classmethod
    def of(cls, value: LimitApplicationCertificate) -> LimitCertificateBody:
        """The body of a domain value."""
        return cls.model_validate(_fields(value), by_name=True)


class SpecificDiseaseBody(BaseModel):
    """One entry of SpecificDiseasesCertificateList (特定疾病療養受療証)."""

    model_config = SPEC_NAMES

    category: SpecificDiseaseCategory = Field(alias="SpecificDiseasesDiseaseCategory")
    certificate_date: WireDate | None = Field(None, alias="SpecificDiseasesCertificateDate")
    valid_start: WireDate = Field(alias="SpecificDiseasesValidStartDate")
    valid_end: WireDate | None = Field(None, alias="SpecificDiseasesValidEndDate")
    self_pay_limit_yen: int | None = Field(
        None, alias="SpecificDiseasesSelfPay", ge=0, le=SELF_PAY_MAX_YEN
    )

    def value(self) -> SpecificDiseaseCertificate:
        """The domain value."""
        return SpecificDiseaseCertificate(**self.model_dump(by_alias=False))

    @classmethod
    def of(cls, value: SpecificDiseaseCertificate) -> SpecificDiseaseBody:
        """The body of a domain value."""
        return cls.model_validate(_fields(value), by_name=True)


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


class MemberFields(BaseModel):
    """Everything an insurer states about a qualification (the answer's element names)."""

    model_config = SPEC_NAMES

    symbol: InsuredNumberPart | None = Field(None, alias="InsuredCardSymbol", examples=["東京１"])
    number: InsuredNumberPart = Field(alias="InsuredIdentificationNumber", examples=["1234567"])
    branch: BranchNumber = Field(alias="InsuredBranchNumber", examples=["01"])
    card_classification: InsuredCardClassification = Field(alias="InsuredCardClassification")
    personal_family: PersonalFamilyClassification = Field(alias="PersonalFamilyClassification")
    insured_name: NameText | None = Field(None, alias="InsuredName")
    name: NameText = Field(alias="Name", examples=["山田　太郎"])
    name_of_other: NameText | None = Field(None, alias="NameOfOther", description="通称名")
    name_kana: KanaText | None = Field(None, alias="NameKana", examples=["ﾔﾏﾀﾞ ﾀﾛｳ"])
    name_of_other_kana: KanaText | None = Field(None, alias="NameOfOtherKana")
    sex: Sex = Field(alias="Sex1")
    sex2: Sex | None = Field(None, alias="Sex2", description="the sex the card's back shows")
    birthdate: WireDate = Field(alias="Birthdate")
    address: AddressText | None = Field(None, alias="Address")
    post_number: PostNumberText | None = Field(None, alias="PostNumber")
    qualification_date: WireDate = Field(alias="QualificationDate")
    disqualification_date: WireDate | None = Field(None, alias="DisqualificationDate")
    reason_of_loss: ReasonOfLoss | None = Field(None, alias="ReasonOfLoss")
    contribution_ratio: ContributionRatio | None = Field(
        None, alias="InsuredPartialContributionRatio"
    )
    preschool: PreschoolClassification | None = Field(None, alias="PreschoolClassification")
    certificate_issuance_date: WireDate | None = Field(None, alias="InsuredCertificateIssuanceDate")
    card_valid_date: WireDate | None = Field(None, alias="InsuredCardValidDate")
    card_expiration_date: WireDate | None = Field(None, alias="InsuredCardExpirationDate")
    elderly: ElderlyCertificateBody | None = Field(None, alias="ElderlyRecipientCertificateInfo")
    limit_changed: LimitCertificateChanged | None = Field(
        None, alias="LimitApplicationCertificateChanged"
    )
    limit: LimitCertificateBody | None = Field(None, alias="LimitApplicationCertificateRelatedInfo")
    specific_diseases: list[SpecificDiseaseBody] = Field(
        default_factory=list, alias="SpecificDiseasesCertificateList"
    )

    def record(self) -> MemberRecord:
        """The domain record; raises `InvalidRecord` when a rule is broken, or a text field
        holds what the registry does not take in (`domain.input_problems`)."""
        values = {name: getattr(self, name) for name in MemberFields.model_fields}
        values["elderly"] = self.elderly.value() if self.elderly else None
        values["limit"] = self.limit.value() if self.limit else None
        values["specific_diseases"] = tuple(body.value() for body in self.specific_diseases)
        return accepted_record(values)


class MemberCreate(MemberFields):
    """A new qualification. The insurer is the caller; InsurerNumber, when sent, must be it."""

    my_number: MyNumber = Field(alias="MyNumber")
    insurer_number: InsurerNumberText | None = Field(
        None, alias="InsurerNumber", description="the calling insurer's number"
    )


def _not_null(schema: dict[str, Any]) -> None:
    """Document a correction's field as never `null`: one every qualification has cannot be
    cleared (`MemberCorrection.changes` refuses it)."""
    schema.pop("default", None)
    kept = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


class MemberCorrection(BaseModel):
    """A correction: only the fields sent change; `null` clears an optional field, and a
    field every qualification has takes none."""

    model_config = SPEC_NAMES

    expected_version: int | None = Field(
        None, alias="Version", description="refuse the change unless the record is still here"
    )
    my_number: MyNumber | None = Field(None, alias="MyNumber")
    symbol: InsuredNumberPart | None = Field(None, alias="InsuredCardSymbol")
    number: InsuredNumberPart | None = Field(
        None, alias="InsuredIdentificationNumber", json_schema_extra=_not_null
    )
    branch: BranchNumber | None = Field(
        None, alias="InsuredBranchNumber", json_schema_extra=_not_null
    )
    card_classification: InsuredCardClassification | None = Field(
        None, alias="InsuredCardClassification", json_schema_extra=_not_null
    )
    personal_family: PersonalFamilyClassification | None = Field(
        None, alias="PersonalFamilyClassification", json_schema_extra=_not_null
    )
    insured_name: NameText | None = Field(None, alias="InsuredName")
    name: NameText | None = Field(None, alias="Name", json_schema_extra=_not_null)
    name_of_other: NameText | None = Field(None, alias="NameOfOther")
    name_kana: KanaText | None = Field(None, alias="NameKana")
    name_of_other_kana: KanaText | None = Field(None, alias="NameOfOtherKana")
    sex: Sex | None = Field(None, alias="Sex1", json_schema_extra=_not_null)
    sex2: Sex | None = Field(None, alias="Sex2")
    birthdate: WireDate | None = Field(None, alias="Birthdate", json_schema_extra=_not_null)
    address: AddressText | None = Field(None, alias="Address")
    post_number: PostNumberText | None = Field(None, alias="PostNumber")
    qualification_date: WireDate | None = Field(
        None, alias="QualificationDate", json_schema_extra=_not_null
    )
    disqualification_date: WireDate | None = Field(None, alias="DisqualificationDate")
    reason_of_loss: ReasonOfLoss | None = Field(None, alias="ReasonOfLoss")
    contribution_ratio: ContributionRatio | None = Field(
        None, alias="InsuredPartialContributionRatio"
    )
    preschool: PreschoolClassification | None = Field(None, alias="PreschoolClassification")
    certificate_issuance_date: WireDate | None = Field(None, alias="InsuredCertificateIssuanceDate")
    card_valid_date: WireDate | None = Field(None, alias="InsuredCardValidDate")
    card_expiration_date: WireDate | None = Field(None, alias="InsuredCardExpirationDate")
    elderly: ElderlyCertificateBody | None = Field(None, alias="ElderlyRecipientCertificateInfo")
    limit_changed: LimitCertificateChanged | None = Field(
        None, alias="LimitApplicationCertificateChanged"
    )
    limit: LimitCertificateBody | None = Field(None, alias="LimitApplicationCertificateRelatedInfo")
    specific_diseases: list[SpecificDiseaseBody] | None = Field(
        None, alias="SpecificDiseasesCertificateList"
    )

    def changes(self) -> dict[str, Any]:
        """The `MemberRecord` attributes this correction sets (a required one cannot be
        cleared: sending null for it is a `CallerMistake`)."""
        changes: dict[str, Any] = {}
        for name in self.model_fields_set - {"expected_version", "my_number"}:
            value = getattr(self, name)
            if name == "elderly" or name == "limit":
                value = value.value() if value is not None else None
            elif name == "specific_diseases":
                value = tuple(body.value() for body in value or [])
            elif value is None and name in _REQUIRED:
                alias = MemberCorrection.model_fields[name].alias
                raise CallerMistake(f"{alias} cannot be cleared")
            changes[name] = value
        taken, refused = taken_in(changes)
        if refused:
            raise InvalidRecord(refused)
        return taken


_REQUIRED = {name for name, info in MemberFields.model_fields.items() if info.is_required()}


class LossRecord(BaseModel):
    """The loss (資格喪失) of a qualification."""

    model_config = SPEC_NAMES

    loss_date: WireDate = Field(alias="DisqualificationDate")
    reason: ReasonOfLoss = Field(alias="ReasonOfLoss")


class MemberPublic(MemberFields):
    """A stored qualification as the API shows it. No My Number, no person reference."""

    id: int = Field(alias="QualificationId")
    version: int = Field(alias="Version")
    insurer_number: str = Field(alias="InsurerNumber")
    insurer_name: str = Field(alias="InsurerName")
    created_at: datetime = Field(alias="CreatedAt")
    updated_at: datetime = Field(alias="UpdatedAt")
    linkage: LinkagePublic = Field(
        alias="Linkage",
        description="the issuer's match of the four items; a held registration is stored "
        "but not answered to clinics (docs/linkage.md)",
    )

    @classmethod
    def of(cls, member: Member) -> MemberPublic:
        """The public view of a member."""
        record = member.record
        values = {name: getattr(record, name) for name in MemberFields.model_fields}
        values["elderly"] = ElderlyCertificateBody.of(record.elderly) if record.elderly else None
        values["limit"] = LimitCertificateBody.of(record.limit) if record.limit else None
        values["specific_diseases"] = [
            SpecificDiseaseBody.of(certificate) for certificate in record.specific_diseases
        ]
        return cls.model_validate(
            {
                **values,
                "id": member.id,
                "version": member.version,
                "insurer_number": member.insurer.number.digits,
                "insurer_name": member.insurer.name,
                "created_at": member.created_at,
                "updated_at": member.updated_at,
                "linkage": LinkagePublic.of(member.linkage),
            },
            by_name=True,
        )


def _one_of_these_given(*names: str) -> dict[str, Any]:
    """JSON Schema: at least one of `names` is sent, and not as null."""
    return {
        "anyOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in names]
    }


class MemberSearchBody(BaseModel):
    """Search criteria, sent in the body so no personal data lands in a URL or access log.
    At least one of the insured number, the My Number, the kana name or the birth date."""

    model_config = ConfigDict(
        **SPEC_NAMES,
        json_schema_extra=_one_of_these_given(
            "InsuredIdentificationNumber", "MyNumber", "NameKana", "Birthdate"
        ),
    )

    my_number: MyNumber | None = Field(None, alias="MyNumber")
    symbol: str | None = Field(None, alias="InsuredCardSymbol")
    number: str | None = Field(None, alias="InsuredIdentificationNumber")
    branch: str | None = Field(None, alias="InsuredBranchNumber")
    name_kana: str | None = Field(None, alias="NameKana")
    birthdate: WireDate | None = Field(None, alias="Birthdate")
    valid_on: WireDate | None = Field(None, alias="ValidOn")
    limit: int = Field(100, alias="Limit", ge=1, le=1000)


class MemberList(BaseModel):
    """Search results, newest qualification first."""

    model_config = SPEC_NAMES

    members: list[MemberPublic] = Field(alias="Members")


class ChangePublic(BaseModel):
    """One entry of a qualification's change history."""

    model_config = SPEC_NAMES

    at: datetime = Field(alias="At")
    actor: str = Field(alias="Actor")
    action: str = Field(alias="Action")
    version: int = Field(alias="Version")
    fields: list[str] = Field(alias="Fields")
    request_id: str | None = Field(alias="RequestId")
    import_id: int | None = Field(alias="ImportId")

    @classmethod
    def of(cls, change: Change) -> ChangePublic:
        """The public view of a change."""
        return cls.model_validate(
            {
                "at": change.at,
                "actor": change.actor,
                "action": change.action.value,
                "version": change.version,
                "fields": list(change.fields),
                "request_id": change.request_id,
                "import_id": change.import_id,
            },
            by_name=True,
        )


class History(BaseModel):
    """The change history of a qualification, oldest first."""

    model_config = SPEC_NAMES

    qualification_id: int = Field(alias="QualificationId")
    changes: list[ChangePublic] = Field(alias="Changes")
