"""照会番号 in answers: the asking clinic's own number for a person, set as `ReferenceNumber`
on each result of that person (docs/answer.md). No I/O: the caller reads the numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qualification_server.contract.schemas import EligibilityAnswer, QualificationResult, Results

if TYPE_CHECKING:
    from collections.abc import Sequence


def with_reference_numbers(
    answer: EligibilityAnswer, numbers: Sequence[str | None]
) -> EligibilityAnswer:
    """The answer with `numbers[i]` as the i-th result's `ReferenceNumber`: the clinic's
    number for the person that result is of, None where it registered none. Several persons
    (twins found without 枝番) each get their own; an answer of one person gets the same
    number on every result (`with_reference_number`)."""
    listed = answer.MessageBody.ResultList
    results = listed.ResultOfQualificationConfirmation if listed else []
    if len(numbers) != len(results):
        raise ValueError(f"{len(numbers)} reference numbers for {len(results)} results")
    if not any(numbers):
        return answer
    carried = [
        result.model_copy(update={"ReferenceNumber": number}) if number else result
        for result, number in zip(results, numbers, strict=True)
    ]
    body = answer.MessageBody.model_copy(
        update={"ResultList": Results(ResultOfQualificationConfirmation=carried)}
    )
    return answer.model_copy(update={"MessageBody": body})


def with_reference_number(answer: EligibilityAnswer, number: str | None) -> EligibilityAnswer:
    """An answer about one person (a card check) with the clinic's number on every result."""
    listed = answer.MessageBody.ResultList
    count = len(listed.ResultOfQualificationConfirmation) if listed else 0
    return with_reference_numbers(answer, [number] * count)


def common_reference_number(results: Sequence[QualificationResult] | None) -> str | None:
    """The number of a 一括照会 unit: the one its results carry when they are all of one
    person; None when they carry none, or differ (several persons, each with their own)."""
    numbers = {result.ReferenceNumber for result in results or ()}
    if len(numbers) != 1:
        return None
    return numbers.pop()
