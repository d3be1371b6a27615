"""照会番号登録: register the clinic's own number for a person named by insured number, one
(`register`) or many (`register_batch`), each recorded in the access log.

The person is found by the 個別照会's own lookup (`lookups.service.holders_named`), and
so within the same budgets (`rate_limit`): a registration tells match from no match as a
lookup does, so it must not become an oracle either. A number is registered for one person
only: several holders found without 枝番 (twins) are refused (Q4006), never guessed.

The bulk registration is answered in one step, each entry on its own, where the real
interface takes four (OQS-IF-009..012: upload, reception number, download request, result)
[chosen]: an entry is one registry lookup and one small write, so a full batch is answered
within the request, and there is nothing to fetch later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onshi_kernel.japan_time import timestamp
from qualification_server.access_log import log as access_log
from qualification_server.contract.reference_numbers import (
    BatchRegistrationHeader,
    ReferenceNumberAnswer,
    ReferenceNumberBatchAnswer,
    ReferenceNumberBatchRequest,
    ReferenceNumberEntry,
    ReferenceNumberRequest,
    RegistrationHeader,
    RegistrationOutcome,
)
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.lookups.rate_limit import Budget, exhausted, spend
from qualification_server.lookups.service import (
    count_misses,
    holders_named,
    query_summary,
    refuse_when_misses_spent,
)
from qualification_server.reference_numbers import store

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from qualification_server.api.dependencies import Dependencies
    from qualification_server.clinics.service import ClinicIdentity

# What the access log calls a registration (the `method` of its records).
METHOD = "reference-number"


def register_one(
    deps: Dependencies,
    session: Session,
    *,
    clinic_code: str,
    entry: ReferenceNumberEntry,
    now: dt.datetime,
) -> RegistrationOutcome:
    """Register one entry inside the caller's transaction; recorded either way, in the
    person's record when the person was found."""
    query = entry.QualificationConfirmSearchInfo
    # The number is the clinic's own identifier; the query is kept as a lookup's is.
    request = {**query_summary(query), "ReferenceNumber": entry.ReferenceNumber}
    person_ref: str | None = None
    try:
        holders = {person.person_ref for person, _ in holders_named(deps, query)}
        if len(holders) > 1:
            raise QualificationError(Code.BRANCH_NUMBER_NEEDED, f"{len(holders)} holders")
        (person_ref,) = holders
        stored = store.put(
            session, clinic_code=clinic_code, person_ref=person_ref,
            number=entry.ReferenceNumber, now=now,
        )  # fmt: skip
    except QualificationError as error:
        _record(session, now, clinic_code, person_ref, request, {"error": error.code.value})
        raise
    answer: dict[str, Any] = {"registered": entry.ReferenceNumber}
    if stored.replaced is not None:
        answer["replaced"] = stored.replaced
    _record(session, now, clinic_code, person_ref, request, answer)
    return RegistrationOutcome(
        QualificationConfirmSearchInfo=query,
        ReferenceNumber=entry.ReferenceNumber,
        ProcessingResultStatus="1",
        ReplacedReferenceNumber=stored.replaced,
    )


def _record(
    session: Session,
    now: dt.datetime,
    clinic_code: str,
    person_ref: str | None,
    request: dict[str, Any],
    answer: dict[str, Any],
) -> None:
    access_log.append(
        session,
        access_log.Entry(
            now=now, clinic_code=clinic_code, person_ref=person_ref, method=METHOD,
            request=request, answer=answer,
        ),
    )  # fmt: skip


def register(
    deps: Dependencies, *, clinic: ClinicIdentity, request: ReferenceNumberRequest
) -> ReferenceNumberAnswer:
    """照会番号登録 of one person: registered, or refused with its code (and recorded)."""
    now = deps.clock()
    with transaction(deps.sessions) as session:
        refuse_when_misses_spent(deps, session, clinic.code, now)
        spend(
            session, clinic_code=clinic.code, budget=Budget.LOOKUPS, count=1,
            limit=deps.settings.insured_lookups_per_minute, now=now,
        )  # fmt: skip
    error: QualificationError | None = None
    with transaction(deps.sessions) as session:
        try:
            outcome = register_one(
                deps, session, clinic_code=clinic.code, entry=request.entry, now=now
            )
        except QualificationError as exc:
            if exc.code is Code.INSURED_NUMBER_NOT_MATCHED:
                count_misses(session, clinic.code, 1, now)
            error = exc  # the refusal's record commits with the transaction
    if error is not None:
        raise error
    return ReferenceNumberAnswer(
        MessageHeader=RegistrationHeader(
            ProcessExecutionTime=timestamp(now),
            MedicalInstitutionCode=clinic.code,
            ArbitraryFileIdentifier=request.arbitrary_file_identifier,
        ),
        MessageBody=outcome,
    )


def register_batch(
    deps: Dependencies, *, clinic: ClinicIdentity, request: ReferenceNumberBatchRequest
) -> ReferenceNumberBatchAnswer:
    """照会番号一括登録: each entry registered or refused on its own, one unit each, in order
    (a later entry for the same person replaces an earlier one's number)."""
    if len(request.entries) > deps.settings.batch_max_entries:
        raise QualificationError(
            Code.BATCH_TOO_LARGE, f"{len(request.entries)} > {deps.settings.batch_max_entries}"
        )
    now = deps.clock()
    with transaction(deps.sessions) as session:
        misses_left = refuse_when_misses_spent(deps, session, clinic.code, now)
        spend(
            session, clinic_code=clinic.code, budget=Budget.BATCH_ENTRIES,
            count=len(request.entries), limit=deps.settings.batch_entries_per_day, now=now,
        )  # fmt: skip
    units: list[RegistrationOutcome] = []
    misses = 0
    with transaction(deps.sessions) as session:
        for entry in request.entries:
            try:
                if misses >= misses_left:  # guessing stops here, not at the batch's end
                    raise exhausted(Budget.MISSES, now, "unmatched insured numbers this hour")
                units.append(
                    register_one(deps, session, clinic_code=clinic.code, entry=entry, now=now)
                )
            except QualificationError as error:
                misses += error.code is Code.INSURED_NUMBER_NOT_MATCHED
                units.append(_refused(entry, error))
        if misses:
            count_misses(session, clinic.code, misses, now)
    errors = sum(1 for unit in units if unit.ProcessingResultStatus == "2")
    return ReferenceNumberBatchAnswer(
        MessageHeader=BatchRegistrationHeader(
            ProcessExecutionTime=timestamp(now),
            MedicalInstitutionCode=clinic.code,
            ArbitraryFileIdentifier=request.arbitrary_file_identifier,
            NumberOfProcessingResult=len(units),
            NumberOfNormalProcessing=len(units) - errors,
            NumberOfError=errors,
        ),
        BulkRegistrationUnit=units,
    )


def _refused(entry: ReferenceNumberEntry, error: QualificationError) -> RegistrationOutcome:
    return RegistrationOutcome(
        QualificationConfirmSearchInfo=entry.QualificationConfirmSearchInfo,
        ReferenceNumber=entry.ReferenceNumber,
        ProcessingResultStatus="2",
        ProcessingResultCode=error.code.value,
        ProcessingResultMessage=error.info.front_desk,
    )
