"""Residents to issue cards for: a JSON list, synthetic people only (see fixtures/README.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from onshi_kernel.mynumber import validate_my_number


class Resident(BaseModel):
    """A person as the municipality knows them. Repr hides personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    label: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    my_number: str = Field(repr=False)
    name: str = Field(repr=False, min_length=1, max_length=100)
    name_kana: str = Field(repr=False, min_length=1, max_length=100)
    birth_date: dt.date = Field(repr=False)
    sex: Literal["1", "2", "3"] = Field(repr=False)
    address: str = Field(repr=False, min_length=1, max_length=200)
    # What the municipality issued: a card with PINs, or a 顔認証マイナンバーカード without
    # (docs/card.md, the kinds of card).
    card: Literal["card", "face_card"] = "card"
    # Whether the person also put the certificate on an Android phone (スマホ用電子証明書).
    smartphone: bool = False

    @field_validator("my_number")
    @classmethod
    def _check_my_number(cls, value: str) -> str:
        return validate_my_number(value)


_RESIDENTS = TypeAdapter(list[Resident])


def load_residents(path: Path) -> list[Resident]:
    """Read and validate a residents file. Raises pydantic's ValidationError or OSError."""
    residents = _RESIDENTS.validate_json(path.read_bytes())
    labels = [r.label for r in residents]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"duplicate resident labels: {', '.join(duplicates)}")
    return residents
