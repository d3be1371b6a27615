"""One CSV row → one staged row, or the reasons it is rejected. Pure apart from the
pseudonym key it is given; the hot loop of an import, so written for speed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from insurer_registry.importer.csv_source import Header, RawRow
from insurer_registry.linkage.state import last_four
from insurer_registry.members.domain import (
    ELEMENT_NAMES,
    FLAT_FIELDS,
    INSURER_NUMBER_ELEMENT,
    MY_NUMBER_ELEMENT,
    FieldProblem,
    InvalidRecord,
    record_from_flat,
    taken_in,
)
from insurer_registry.members.wire import parse_post_number, parse_wire_date
from insurer_registry.models import NO_SYMBOL
from onshi_kernel.mynumber import InvalidMyNumber, person_reference
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber

DATE_FIELDS = frozenset(name for name in FLAT_FIELDS if name.endswith("date") or "valid_" in name)

_TEXT, _DATE, _POST_NUMBER, _INSURER, _MY_NUMBER = "text", "date", "post", "insurer", "my"


def _kind(attribute: str) -> str:
    if attribute in DATE_FIELDS:
        return _DATE
    return {
        "post_number": _POST_NUMBER,
        "insurer_number": _INSURER,
        "my_number": _MY_NUMBER,
    }.get(attribute, _TEXT)


# A parsed row: (line, insurer_id, person_ref, my_number_last4, *the flat columns in
# FLAT_FIELDS order). The staging adds the linkage the batch's match gave it.
StagedRow = tuple[Any, ...]
PARSED_PREFIX = 4  # the columns before the flat ones


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not imported: its line (1 is the header) and why."""

    line: int
    reason: str


def describe(problems: tuple[FieldProblem, ...] | list[FieldProblem]) -> str:
    """Problems as one line of a report."""
    return "; ".join(f"{p.field}: {p.reason}" for p in problems)


class RowParser:
    """Turns rows of one file into staged rows.

    `insurers` maps registered insurer numbers (digits) to ids; with `only_insurer_id` set
    (an insurer importing through the API), rows of any other insurer are rejected.
    """

    def __init__(
        self,
        *,
        header: Header,
        insurers: Mapping[str, int],
        pseudonym_key: bytes,
        only_insurer_id: int | None = None,
    ) -> None:
        attributes = header.attributes
        self._width = len(attributes)
        # Each column's place, by kind, worked out once per file: the row loop then does no
        # lookups by name. Dates and postcodes keep their file order, so a row's problems are
        # listed in the order of its columns.
        self._texts = tuple(
            (at, name) for at, name in enumerate(attributes) if _kind(name) is _TEXT
        )
        self._read = tuple(
            (
                at,
                name,
                ELEMENT_NAMES[name],
                parse_wire_date if _kind(name) is _DATE else parse_post_number,
            )
            for at, name in enumerate(attributes)
            if _kind(name) in (_DATE, _POST_NUMBER)
        )
        self._insurer_at = _position(attributes, "insurer_number")
        self._my_number_at = _position(attributes, "my_number")
        self._insurers = insurers
        self._key = pseudonym_key
        self._only = only_insurer_id
        self._insurer_cache: dict[str, int | str] = {}

    def _insurer_id(self, text: str) -> int | str:
        """The insurer id for a column value, or the reason it is refused (cached)."""
        cached = self._insurer_cache.get(text)
        if cached is not None:
            return cached
        try:
            number = InsurerNumber.parse(text)
        except InvalidInsurerNumber as error:
            result: int | str = error.reason
        else:
            found = self._insurers.get(number.digits)
            if found is None:
                result = "insurer not registered"
            elif self._only is not None and found != self._only:
                result = "not the insurer of this credential"
            else:
                result = found
        self._insurer_cache[text] = result
        return result

    def parse(self, row: RawRow) -> StagedRow | Rejection:
        """The staged row, or the rejection with every problem found."""
        values = row.values
        if len(values) != self._width:
            return Rejection(row.line, f"expected {self._width} columns, got {len(values)}")
        problems: list[FieldProblem] = []
        fields: dict[str, Any] = {name: values[at] for at, name in self._texts if values[at]}
        for at, name, element, read in self._read:
            text = values[at]
            if text:
                try:
                    fields[name] = read(text)
                except ValueError as error:
                    problems.append(FieldProblem(element, str(error)))
        insurer_at, my_number_at = self._insurer_at, self._my_number_at
        insurer_id = self._insurer_id(values[insurer_at] if insurer_at is not None else "")
        if isinstance(insurer_id, str):
            problems.append(FieldProblem(INSURER_NUMBER_ELEMENT, insurer_id))
        my_number = values[my_number_at] if my_number_at is not None else ""
        try:
            person_ref = person_reference(my_number, self._key)
        except InvalidMyNumber as error:
            problems.append(FieldProblem(MY_NUMBER_ELEMENT, error.reason))
        fields, refused = taken_in(fields)  # names and readings in their stored form
        problems.extend(refused)
        try:
            record = record_from_flat(fields)
        except InvalidRecord as error:
            # A value that could not be read, or was not taken in, is not also "required".
            unreadable = {problem.field for problem in problems}
            problems.extend(p for p in error.problems if p.field not in unreadable)
        if problems:
            return Rejection(row.line, describe(problems))
        # The values read are already in stored form (codes as their wire strings, dates as
        # dates) and `record` has just vouched for them.
        staged = list(map(fields.get, FLAT_FIELDS))
        if record.symbol is None:
            staged[0] = NO_SYMBOL
        # The last 4 digits are all that is kept of the My Number in the clear: what the
        # person is shown of the number their insured number was linked by.
        return (row.line, insurer_id, person_ref, last_four(my_number), *staged)


def _position(attributes: tuple[str, ...], name: str) -> int | None:
    """Where a column is in the file, None if the file has no such column."""
    return attributes.index(name) if name in attributes else None
