"""The front desk's lookups: by card (PIN or face/visual proof), by insured-card number, and
in a batch. Every lookup, answered or refused, is recorded in the access log."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from insurer_registry.lookup.types import InsuredNumberNotFound
from onshi_kernel.japan_time import japan_date, timestamp, yyyymmdd
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber
from qualification_server import access_log
from qualification_server.answers import (
    AnswerContext,
    card_answer,
    insured_number_answer,
)
from qualification_server.challenges import Challenge, Purpose
from qualification_server.check_record import Recorded
from qualification_server.clinics import ClinicIdentity, device_key
from qualification_server.contract.schemas import (
    AnswerBody,
    BatchAnswer,
    BatchHeader,
    BatchLookupRequest,
    BatchUnit,
    CardCheckRequest,
    Consents,
    EligibilityAnswer,
    InsuredCardQuery,
    InsuredNumberLookupRequest,
    PinProof,
)
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.proofs import Method, verify_card_signature, verify_device_signature
from qualification_server.rate_limit import Budget, exhausted, left, spend
from qualification_server.service import (
    Dependencies,
    certificate_summary,
    decode_b64,
    open_challenge_for,
    person_of,
    record_refusal,
    validate,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qualification_server.trust.validation import ValidatedCertificate


def _confirmation_date(value: str | None, now: dt.datetime) -> dt.date:
    if value is None:
        return japan_date(now)
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise QualificationError(
            Code.INVALID_REQUEST, "QualificationConfirmationDate is not a date"
        ) from None


async def card_check(
    deps: Dependencies, *, clinic: ClinicIdentity, request: CardCheckRequest
) -> EligibilityAnswer:
    """Check a card: challenge, certificate, proof of presence, registration, eligibility.

    Async, because it is the hot path: the registry lookup and the recording are one
    statement each on async connections; the CPU work between them (a certificate path, two
    signatures, the answer) is a fraction of a millisecond. What is not on the hot path (a
    face reader's key, recording a refusal) runs in a worker thread."""
    now = deps.clock()
    method = Method(request.proof.method)
    cert: ValidatedCertificate | None = None
    der: bytes | None = None
    summary: dict[str, Any] = {"reference": "card", "method": method.value}
    person_ref: str | None = None
    # Opened, and not yet spent by the record below: a refusal from here on spends it.
    unspent: Challenge | None = None
    try:
        token = decode_b64(request.challenge, "challenge")
        der = decode_b64(request.certificate, "certificate")
        signature = decode_b64(request.proof.signature, "signature")
        confirmation = _confirmation_date(request.qualification_confirmation_date, now)
        challenge = unspent = open_challenge_for(deps, token, Purpose.CHECK, clinic.code, now)
        summary["challenge_id"] = challenge.challenge_id
        cert = validate(deps, der, now)
        if isinstance(request.proof, PinProof):
            verify_card_signature(cert.public_key, token, signature)
        else:
            summary["device_id"] = request.proof.device_id
            key = await anyio.to_thread.run_sync(_device_key, deps, clinic, request.proof.device_id)
            verify_device_signature(key, token, der, method, signature)
        person_ref = person_of(deps, cert)
        summary["certificate"] = certificate_summary(cert, der)
        context = AnswerContext(
            clinic_code=clinic.code,
            now=now,
            confirmation_date=confirmation,
            reference_classification="1",
            arbitrary_file_identifier=request.arbitrary_file_identifier,
        )
        person = await deps.source.aqualifications_of(person_ref)
        answer = card_answer(person, request.consents, context)
        unspent = None  # the record spends it, whatever it finds
        recorded = await deps.checks.record(
            challenge_id=challenge.challenge_id,
            expires_at=challenge.expires_at,
            entry=access_log.Entry(
                now=now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=method.value,
                request={**summary, "consents": request.consents.model_dump()},
                answer=_answer_summary(answer, person.qualifications),
            ),
        )
        if recorded is Recorded.REPLAYED:
            raise QualificationError(Code.CHALLENGE_REPLAYED)
        if recorded is Recorded.EXPIRED:
            raise QualificationError(Code.CHALLENGE_EXPIRED, "expired by the database's clock")
        if recorded is Recorded.NOT_REGISTERED:
            raise QualificationError(Code.CARD_NOT_REGISTERED)
        return answer
    except QualificationError as error:
        summary.setdefault("certificate", certificate_summary(cert, der))
        await anyio.to_thread.run_sync(
            partial(
                record_refusal,
                deps,
                now=now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=method.value,
                request=summary,
                error=error,
                challenge=unspent,
            )
        )
        raise


def _device_key(deps: Dependencies, clinic: ClinicIdentity, device_id: str) -> bytes:
    with deps.sessions() as session:
        return device_key(session=session, clinic=clinic, device_id=device_id)


def _answer_summary(answer: EligibilityAnswer, qualifications: tuple[Any, ...]) -> dict[str, Any]:
    results = answer.MessageBody.ResultList
    return {
        "validity": answer.MessageBody.QualificationValidity,
        "results": len(results.ResultOfQualificationConfirmation) if results else 0,
        "qualification_ids": [q.qualification_id for q in qualifications],
    }


# --- without a card -----------------------------------------------------------------------


def _query_summary(query: InsuredCardQuery) -> dict[str, Any]:
    # The insured number is what the clinic typed; the birth date is personal data: not kept.
    return {
        "reference": "insured-number",
        "InsurerNumber": query.InsurerNumber.strip(),
        "InsuredCardSymbol": query.InsuredCardSymbol,
        "InsuredIdentificationNumber": query.InsuredIdentificationNumber,
        "InsuredBranchNumber": query.InsuredBranchNumber,
    }


def _lookup_one(
    deps: Dependencies,
    session: Session,
    *,
    clinic: ClinicIdentity,
    query: InsuredCardQuery,
    context: AnswerContext,
) -> EligibilityAnswer:
    """One insured-number lookup inside the caller's transaction; records it either way."""
    summary = _query_summary(query)
    person_ref: str | None = None
    try:
        try:
            insurer = InsurerNumber.parse(query.InsurerNumber)
        except InvalidInsurerNumber as exc:
            raise QualificationError(Code.INVALID_REQUEST, f"InsurerNumber: {exc}") from None
        symbol = query.InsuredCardSymbol or None
        try:
            person = deps.source.qualifications_by_insured_number(
                insurer_number=insurer,
                symbol=symbol,
                number=query.InsuredIdentificationNumber,
                branch=query.InsuredBranchNumber,
            )
        except InsuredNumberNotFound:
            raise QualificationError(Code.INSURED_NUMBER_NOT_MATCHED) from None
        matching = [
            q
            for q in person.qualifications
            if q.insurer_number == insurer
            and (q.record.symbol or None) == symbol
            and q.record.number == query.InsuredIdentificationNumber
            and q.record.branch == query.InsuredBranchNumber
        ]
        birth = query.Birthdate
        if not matching or yyyymmdd(matching[0].record.birthdate) != birth:
            # One answer for "no such number" and "wrong birth date": no oracle for guessing.
            raise QualificationError(Code.INSURED_NUMBER_NOT_MATCHED)
        person_ref = person.person_ref
        consents = Consents(
            limit_application=query.LimitApplicationCertificateRelatedConsFlg == "1"
        )
        answer = insured_number_answer(person, matching[0].qualification_id, consents, context)
        access_log.append(
            session,
            access_log.Entry(
                now=context.now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=Method.INSURED_NUMBER.value,
                request=summary,
                answer=_answer_summary(answer, (matching[0],)),
            ),
        )
        return answer
    except QualificationError as error:
        access_log.append(
            session,
            access_log.Entry(
                now=context.now,
                clinic_code=clinic.code,
                person_ref=person_ref,
                method=Method.INSURED_NUMBER.value,
                request=summary,
                answer={"error": error.code.value},
            ),
        )
        raise


def insured_number_lookup(
    deps: Dependencies, *, clinic: ClinicIdentity, request: InsuredNumberLookupRequest
) -> EligibilityAnswer:
    """個別照会: one insured number and birth date. Recorded, answered or refused."""
    now = deps.clock()
    context = AnswerContext(
        clinic_code=clinic.code,
        now=now,
        confirmation_date=_confirmation_date(request.qualification_confirmation_date, now),
        reference_classification="2",
        arbitrary_file_identifier=request.arbitrary_file_identifier,
    )
    settings = deps.settings
    with transaction(deps.sessions) as session:
        _refuse_when_misses_spent(deps, session, clinic, now)
        spend(
            session, clinic_code=clinic.code, budget=Budget.LOOKUPS, count=1,
            limit=settings.insured_lookups_per_minute, now=now,
        )  # fmt: skip
    error: QualificationError | None = None
    with transaction(deps.sessions) as session:
        try:
            return _lookup_one(deps, session, clinic=clinic, query=request.query, context=context)
        except QualificationError as exc:
            if exc.code is Code.INSURED_NUMBER_NOT_MATCHED:
                _count_misses(session, clinic, 1, now)
            error = exc  # the refusal record commits with the transaction
    raise error


def _refuse_when_misses_spent(
    deps: Dependencies, session: Session, clinic: ClinicIdentity, now: dt.datetime
) -> int:
    """The clinic's unmatched answers left this hour; refuses (429) when none are."""
    remaining = left(
        session, clinic_code=clinic.code, budget=Budget.MISSES,
        limit=deps.settings.unmatched_lookups_per_hour, now=now,
    )  # fmt: skip
    if remaining == 0:
        raise exhausted(Budget.MISSES, now, "unmatched insured numbers this hour")
    return remaining


def _count_misses(session: Session, clinic: ClinicIdentity, misses: int, now: dt.datetime) -> None:
    spend(session, clinic_code=clinic.code, budget=Budget.MISSES, count=misses, limit=None, now=now)


def batch_lookup(
    deps: Dependencies, *, clinic: ClinicIdentity, request: BatchLookupRequest
) -> BatchAnswer:
    """一括照会: each entry answered or refused on its own; one BulkConfirmUnit each."""
    if len(request.entries) > deps.settings.batch_max_entries:
        raise QualificationError(
            Code.BATCH_TOO_LARGE, f"{len(request.entries)} > {deps.settings.batch_max_entries}"
        )
    now = deps.clock()
    context = AnswerContext(
        clinic_code=clinic.code,
        now=now,
        confirmation_date=_confirmation_date(request.qualification_confirmation_date, now),
        reference_classification="2",
        arbitrary_file_identifier=request.arbitrary_file_identifier,
    )
    with transaction(deps.sessions) as session:
        misses_left = _refuse_when_misses_spent(deps, session, clinic, now)
        spend(
            session, clinic_code=clinic.code, budget=Budget.BATCH_ENTRIES,
            count=len(request.entries), limit=deps.settings.batch_entries_per_day, now=now,
        )  # fmt: skip
    units: list[BatchUnit] = []
    errors = misses = 0
    with transaction(deps.sessions) as session:
        for query in request.entries:
            try:
                if misses >= misses_left:  # guessing stops here, not at the batch's end
                    raise exhausted(Budget.MISSES, now, "unmatched insured numbers this hour")
                body = _lookup_one(
                    deps, session, clinic=clinic, query=query, context=context
                ).MessageBody
            except QualificationError as error:
                errors += 1
                misses += error.code is Code.INSURED_NUMBER_NOT_MATCHED
                body = AnswerBody(
                    ProcessingResultStatus="2",
                    ProcessingResultCode=error.code.value,
                    ProcessingResultMessage=error.info.front_desk,
                    QualificationValidity="4",
                )
            units.append(BatchUnit(InsuredNumberQuery=query, MessageBody=body))
        if misses:
            _count_misses(session, clinic, misses, now)
    return BatchAnswer(
        MessageHeader=BatchHeader(
            ProcessExecutionTime=timestamp(now),
            QualificationConfirmationDate=yyyymmdd(context.confirmation_date),
            MedicalInstitutionCode=clinic.code,
            ArbitraryFileIdentifier=request.arbitrary_file_identifier,
            NumberOfProcessingResult=len(units),
            NumberOfNormalProcessing=len(units) - errors,
            NumberOfError=errors,
        ),
        BulkConfirmUnit=units,
    )
