"""What a request got wrong, as every server says it: the field and the reason, never the
value."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from onshi_kernel.validation import SUMMARY_MAX_CHARS, field_of, problems, summary


class _Pin(BaseModel):
    pin: str = Field(pattern="^[0-9]{4}$")


@pytest.mark.parametrize(
    ("location", "field"),
    [
        (("body", "proof", "signature"), "proof.signature"),
        (("query", "limit"), "limit"),
        (("header", "idempotency-key"), "idempotency-key"),
        (("body",), "body"),
        (("body", "entries", 3, "Birthdate"), "entries.3.Birthdate"),
    ],
)
def test_a_location_is_the_fields_dotted_name(location: tuple[str | int, ...], field: str) -> None:
    assert field_of(location) == field


def test_a_problem_names_the_field_and_the_reason_and_never_the_value() -> None:
    with pytest.raises(ValidationError) as raised:
        _Pin(pin="12345")
    (problem,) = problems(raised.value.errors())
    assert problem["field"] == "pin"
    assert "pattern" in problem["reason"]
    assert "12345" not in str(problem) and "12345" not in summary(raised.value.errors())


def test_a_summary_is_one_bounded_line() -> None:
    errors = [{"loc": ("body", f"f{i}"), "msg": "x" * 50} for i in range(100)]
    text = summary(errors)
    assert len(text) == SUMMARY_MAX_CHARS and "\n" not in text
    assert text.startswith("f0: " + "x" * 50 + "; f1: ")
