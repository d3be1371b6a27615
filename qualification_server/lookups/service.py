"""Lookups without a card: 個別照会 by insured-card number and 一括照会 of many, each
answered or refused on its own and recorded, within the clinic's budgets (`rate_limit`), so
that they cannot become an oracle for guessing numbers and birth dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from insurer_registry.lookup.types import InsuredNumber
from onshi_kernel.japan_time import parse_yyyymmdd
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber
from qualification_server.access_log import log as access_log
from qualification_server.access_log.receipts import Receipted
from qualification_server.answers.eligibility import (
    AnswerContext,
    answer_summary,
    confirmation_date,
    held_detail,
    insured_number_answer,
)
from qualification_server.answers.reference_numbers import with_reference_numbers
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.proofs import (
    Method,
)
from qualification_server.clinics.service import ClinicIdentity
from qualification_server.contract.schemas import (
    Consents,
    EligibilityAnswer,
    InsuredCardQuery,
    InsuredNumberLookupRequest,
)
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.lookups.rate_limit import Budget, exhausted, left, spend
from qualification_server.reference_numbers import store as reference_numbers

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from insurer_registry.lookup.types import PersonQualifications, QualificationInfo


def query_summary(query: InsuredCardQuery) -> dict[str, Any]:
    """What the access log keeps of a query by insured number: the number the clinic typed,
    never the birth date (personal data)."""
    return {
        "reference": "insured-number",
        "InsurerNumber": query.InsurerNumber.strip(),
        "InsuredCardSymbol": query.InsuredCardSymbol,
        "InsuredIdentificationNumber": query.InsuredIdentificationNumber,
        "InsuredBranchNumber": query.InsuredBranchNumber,
    }


def holders_named(
    deps: Dependencies, query: InsuredCardQuery
) -> list[tuple[PersonQualifications, QualificationInfo]]:
    """The holders a query by insured number names, each with their newest qualification
    under the number. Without a 枝番 every branch of the card number whose holder has the
    birth date is one. None (a wrong birth date, an unknown number) is Q4001."""
    try:
        insurer = InsurerNumber.parse(query.InsurerNumber)
    except InvalidInsurerNumber as exc:
        raise QualificationError(Code.INVALID_REQUEST, f"InsurerNumber: {exc}") from None
    insured = InsuredNumber(
        insurer_number=insurer,
        symbol=query.InsuredCardSymbol or None,
        number=query.InsuredIdentificationNumber,
        branch=query.InsuredBranchNumber,
        birthdate=parse_yyyymmdd(query.Birthdate),
    )
    holders = deps.source.holders_of(insured)
    matches = [
        (person, chosen)
        for person in holders
        # a person's newest qualification under the number (they come newest first)
        if (chosen := next((q for q in person.qualifications if insured.matches(q)), None))
    ]
    if not matches:
        # The number is there but held back (its linkage to the person is in doubt): say so,
        # rather than that no such number exists (docs/linkage.md).
        held = [h for person in holders for h in person.held if h.insurer_number == insurer]
        if held:
            raise QualificationError(Code.QUALIFICATION_HELD, held_detail(held))
        raise QualificationError(Code.INSURED_NUMBER_NOT_MATCHED)
    return matches


@dataclass(frozen=True, slots=True)
class LookedUp:
    """A lookup's answer and the records it appended (which its receipt will cover once
    they commit)."""

    answer: EligibilityAnswer
    records: list[access_log.NewRecord]


def lookup_one(
    deps: Dependencies,
    session: Session,
    *,
    clinic_code: str,
    query: InsuredCardQuery,
    context: AnswerContext,
) -> LookedUp:
    """One insured-number lookup inside the caller's transaction; records it either way,
    once for each person it shows.

    One holder named (`holders_named`) gets its answer, several (twins under one card
    number) get 5 with each as its own result. A wrong birth date and an unknown number get
    the same refusal. Each result carries the clinic's 照会番号 for its person, if any.
    """
    summary = query_summary(query)
    try:
        matches = holders_named(deps, query)
        consents = Consents(
            limit_application=query.LimitApplicationCertificateRelatedConsFlg == "1"
        )
        answer = insured_number_answer(matches, consents, context)
    except QualificationError as error:
        access_log.append(
            session,
            access_log.Entry(
                now=context.now,
                clinic_code=clinic_code,
                person_ref=None,
                method=Method.INSURED_NUMBER.value,
                request=summary,
                answer={"error": error.code.value},
            ),
        )
        raise
    persons = [person.person_ref for person, _ in matches]
    numbers = reference_numbers.numbers_for(session, clinic_code=clinic_code, person_refs=persons)
    answer = with_reference_numbers(answer, [numbers.get(person) for person in persons])
    records = [  # each person shown sees this lookup in their record
        access_log.append(
            session,
            access_log.Entry(
                now=context.now,
                clinic_code=clinic_code,
                person_ref=person.person_ref,
                method=Method.INSURED_NUMBER.value,
                request=summary,
                answer=answer_summary(answer, (chosen,)),
            ),
        )
        for person, chosen in matches
    ]
    return LookedUp(answer, records)


def insured_number_lookup(
    deps: Dependencies, *, clinic: ClinicIdentity, request: InsuredNumberLookupRequest
) -> Receipted[EligibilityAnswer]:
    """個別照会: one insured number and birth date. Recorded, answered (with the log's receipt
    for its records, signed once they committed) or refused."""
    now = deps.clock()
    context = AnswerContext(
        clinic_code=clinic.code,
        now=now,
        confirmation_date=confirmation_date(request.qualification_confirmation_date, now),
        reference_classification="2",
        arbitrary_file_identifier=request.arbitrary_file_identifier,
    )
    settings = deps.settings
    with transaction(deps.sessions) as session:
        refuse_when_misses_spent(deps, session, clinic.code, now)
        spend(
            session, clinic_code=clinic.code, budget=Budget.LOOKUPS, count=1,
            limit=settings.insured_lookups_per_minute, now=now,
        )  # fmt: skip
    error: QualificationError | None = None
    looked: LookedUp | None = None
    with transaction(deps.sessions) as session:
        try:
            looked = lookup_one(
                deps, session, clinic_code=clinic.code, query=request.query, context=context
            )
        except QualificationError as exc:
            if exc.code is Code.INSURED_NUMBER_NOT_MATCHED:
                count_misses(session, clinic.code, 1, now)
            error = exc  # the refusal record commits with the transaction
    if looked is None:
        assert error is not None
        raise error
    return deps.receipts.receipted(looked.answer, looked.records)


def refuse_when_misses_spent(
    deps: Dependencies, session: Session, clinic_code: str, now: dt.datetime
) -> int:
    """The clinic's unmatched answers left this hour; refuses (429) when none are."""
    remaining = left(
        session, clinic_code=clinic_code, budget=Budget.MISSES,
        limit=deps.settings.unmatched_lookups_per_hour, now=now,
    )  # fmt: skip
    if remaining == 0:
        raise exhausted(Budget.MISSES, now, "unmatched insured numbers this hour")
    return remaining


def count_misses(session: Session, clinic_code: str, misses: int, now: dt.datetime) -> None:
    spend(session, clinic_code=clinic_code, budget=Budget.MISSES, count=misses, limit=None, now=now)
