"""HTTP bodies of the import API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from insurer_registry.importer.service import ImportReport
from insurer_registry.members.schemas_common import SPEC_NAMES


class RejectionPublic(BaseModel):
    """A rejected row."""

    model_config = SPEC_NAMES

    line: int = Field(alias="Line")
    reason: str = Field(alias="Reason")


class HeldLinePublic(BaseModel):
    """A row imported but held: its four items do not match the card issuer's, so it is not
    answered to clinics until corrected (or confirmed by two of the insurer's users). Item
    names only, never a value."""

    model_config = SPEC_NAMES

    line: int = Field(alias="Line")
    qualification_id: int | None = Field(alias="QualificationId")
    differing: list[str] = Field(
        alias="Differing",
        description="the items that differ from the issuer's (Name, Birthdate, Sex1, "
        "Address); all four when the issuer knows no person with this My Number",
    )
    person_known: bool = Field(alias="PersonKnown")
    reason: str = Field(alias="Reason")


class ImportReportPublic(BaseModel):
    """What an import did. `Rejections` lists the first 1,000 rejected rows by line, `HeldLines`
    the first 1,000 imported but held (a held row is imported, not rejected)."""

    model_config = SPEC_NAMES

    import_id: int | None = Field(alias="ImportId")
    committed: bool = Field(alias="Committed")
    encoding: str = Field(alias="Encoding")
    file_digest: str = Field(
        alias="FileDigest",
        description="HMAC-SHA-256 of the file under the registry's key: the same file gives "
        "the same digest, and it cannot be turned back into the My Numbers the file holds",
    )
    rows: int = Field(alias="Rows")
    inserted: int = Field(alias="Inserted")
    updated: int = Field(alias="Updated")
    unchanged: int = Field(alias="Unchanged")
    rejected: int = Field(alias="Rejected")
    rejections: list[RejectionPublic] = Field(alias="Rejections")
    rejections_truncated: bool = Field(alias="RejectionsTruncated")
    held: int = Field(alias="Held")
    held_lines: list[HeldLinePublic] = Field(alias="HeldLines")
    held_truncated: bool = Field(alias="HeldLinesTruncated")

    @classmethod
    def of(cls, report: ImportReport) -> ImportReportPublic:
        """The public view of a report."""
        return cls.model_validate(
            {
                "import_id": report.import_id,
                "committed": report.committed,
                "encoding": report.encoding,
                "file_digest": report.file_digest,
                "rows": report.rows,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
                "rejections": [{"line": r.line, "reason": r.reason} for r in report.rejections],
                "rejections_truncated": report.rejections_truncated,
                "held": report.held,
                "held_lines": [
                    {
                        "line": h.line,
                        "qualification_id": h.qualification_id,
                        "differing": [item.value for item in h.differing],
                        "person_known": h.person_known,
                        "reason": h.describe(),
                    }
                    for h in report.held_lines
                ],
                "held_truncated": report.held_truncated,
            },
            by_name=True,
        )
