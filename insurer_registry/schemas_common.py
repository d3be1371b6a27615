"""Wire types shared by the HTTP schemas: `YYYYMMDD` dates and the My Number."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from card_reader.mynumber import validate_my_number
from insurer_registry.wire import format_wire_date, parse_wire_date


def _date_from_wire(value: Any) -> Any:
    if isinstance(value, str):
        return parse_wire_date(value)
    return value


WireDate = Annotated[
    date,
    BeforeValidator(_date_from_wire),
    PlainSerializer(format_wire_date, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{8}$", "examples": ["20240401"]}),
]

MyNumber = Annotated[
    str,
    AfterValidator(validate_my_number),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "個人番号 (12 digits with its check digit); never stored or echoed",
            "writeOnly": True,
        }
    ),
]

SPEC_NAMES = ConfigDict(
    populate_by_name=True,
    serialize_by_alias=True,
    extra="forbid",
    hide_input_in_errors=True,
)
