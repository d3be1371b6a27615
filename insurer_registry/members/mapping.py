"""Between stored rows and `MemberRecord` values."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from insurer_registry.members.codes import SpecificDiseaseCategory
from insurer_registry.members.domain import (
    FLAT_FIELDS,
    MemberRecord,
    SpecificDiseaseCertificate,
    record_from_flat,
)
from insurer_registry.models import NO_SYMBOL, Qualification
from insurer_registry.models import SpecificDiseaseCertificate as CertificateRow


def stored_value(value: Any) -> Any:
    """A value as a column holds it: codes as their plain wire string."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return value


def stored_columns(record: MemberRecord) -> dict[str, Any]:
    """The flat columns of a record, ready to bind (absent 記号 as '')."""
    columns = {name: stored_value(value) for name, value in record.flat().items()}
    if columns["symbol"] is None:
        columns["symbol"] = NO_SYMBOL
    return columns


def stored_certificate(
    category: str,
    valid_start: date,
    valid_end: date | None,
    certificate_date: date | None,
    self_pay_limit_yen: int | None,
) -> SpecificDiseaseCertificate:
    """A 特定疾病療養受療証 from its stored columns."""
    return SpecificDiseaseCertificate(
        category=SpecificDiseaseCategory(category),
        valid_start=valid_start,
        valid_end=valid_end,
        certificate_date=certificate_date,
        self_pay_limit_yen=self_pay_limit_yen,
    )


def stored_record(
    columns: Mapping[Any, Any], certificates: Sequence[SpecificDiseaseCertificate]
) -> MemberRecord:
    """The record stored as these flat columns (absent 記号 stored as '') and certificates."""
    values = {name: columns[name] for name in FLAT_FIELDS}
    if values["symbol"] == NO_SYMBOL:
        values["symbol"] = None
    return record_from_flat(values, certificates)


def record_of(row: Qualification) -> MemberRecord:
    """The record a stored qualification holds."""
    return stored_record(
        {name: getattr(row, name) for name in FLAT_FIELDS},
        [
            stored_certificate(
                c.category, c.valid_start, c.valid_end, c.certificate_date, c.self_pay_limit_yen
            )
            for c in row.specific_diseases
        ],
    )


def write_record(row: Qualification, record: MemberRecord) -> None:
    """Put a record's values on a row, certificates included."""
    for name, value in stored_columns(record).items():
        setattr(row, name, value)
    row.specific_diseases = [
        CertificateRow(
            category=certificate.category.value,
            valid_start=certificate.valid_start,
            valid_end=certificate.valid_end,
            certificate_date=certificate.certificate_date,
            self_pay_limit_yen=certificate.self_pay_limit_yen,
        )
        for certificate in record.specific_diseases
    ]
