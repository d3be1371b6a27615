"""一括照会 in two steps: `submit` stores the entries and answers a reception number at once;
`work` (a background thread of every instance, `BatchWorker`) looks them up; `fetch` answers
処理中 until the batch is done, then every entry's `BulkConfirmUnit` in the submission's order.

Nothing is lost or doubled across a restart: the entries are stored before the reception
number is answered; a worker holds a batch by a lease on the database's clock, so a batch
whose instance died is taken up by another once the lease runs out; each chunk of entries is
looked up, recorded in the access log and marked done in one transaction, so a chunk cut off
by a crash leaves nothing behind and is looked up again. The day's budget is spent once per
entry, at submission. Queries and units are sealed at rest (they hold birth dates and names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from onshi_kernel.japan_time import timestamp, yyyymmdd
from onshi_kernel.sealing import Sealer
from qualification_server.answers.eligibility import AnswerContext, confirmation_date
from qualification_server.answers.reference_numbers import common_reference_number
from qualification_server.contract.batch import (
    RECEPTION_NUMBER_DIGITS,
    BatchReceipt,
    BatchResult,
    BatchResultHeader,
    BatchSubmission,
    BulkUnit,
    ReceiptHeader,
)
from qualification_server.contract.schemas import InsuredCardQuery
from qualification_server.db import database_now, transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.lookups.rate_limit import Budget, exhausted, left, spend
from qualification_server.lookups.service import (
    count_misses,
    lookup_one,
    refuse_when_misses_spent,
)
from qualification_server.models import Batch, BatchEntry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qualification_server.api.dependencies import Dependencies
    from qualification_server.clinics.service import ClinicIdentity

log = logging.getLogger(__name__)

CHUNK = 50  # entries looked up and committed together
LEASE_S = 60  # a worker renews it with every chunk; one that stops loses the batch after this


def _sealer(deps: Dependencies) -> Sealer:
    return Sealer(deps.settings.challenge_key_bytes, "batch entries")


def _place(reception_number: str, position: int, what: str) -> bytes:
    return f"{reception_number}/{position}/{what}".encode()


def _digest(deps: Dependencies, request: BatchSubmission) -> bytes:
    """A keyed digest of what was submitted: the same Idempotency-Key with other entries is
    told apart without keeping the entries in the clear."""
    key = hashlib.sha256(b"onshi batch digest\0" + deps.settings.challenge_key_bytes).digest()
    return hmac.new(key, request.model_dump_json().encode(), hashlib.sha256).digest()


def _receipt(batch: Batch) -> BatchReceipt:
    return BatchReceipt(
        MessageHeader=ReceiptHeader(
            ProcessExecutionTime=timestamp(batch.submitted_at),
            QualificationConfirmationDate=yyyymmdd(batch.confirmation_date),
            MedicalInstitutionCode=batch.clinic_code,
            ArbitraryFileIdentifier=batch.arbitrary_file_identifier,
            ReceptionNumber=batch.reception_number,
            NumberOfProcessingResult=batch.entry_count,
        )
    )


def _existing(session: Session, clinic_code: str, key: str) -> Batch | None:
    return session.scalars(
        select(Batch).where(Batch.clinic_code == clinic_code, Batch.idempotency_key == key)
    ).first()


def submit(
    deps: Dependencies,
    *,
    clinic: ClinicIdentity,
    request: BatchSubmission,
    idempotency_key: str | None = None,
) -> BatchReceipt:
    """Store a batch and answer its reception number. With `idempotency_key`, a retry of the
    same submission answers the same batch (its entries are not counted again)."""
    if len(request.entries) > deps.settings.batch_max_entries:
        raise QualificationError(
            Code.BATCH_TOO_LARGE, f"{len(request.entries)} > {deps.settings.batch_max_entries}"
        )
    now = deps.clock()
    day = confirmation_date(request.qualification_confirmation_date, now)
    digest = _digest(deps, request)
    sealer = _sealer(deps)
    # Kept as a digest: any header value the client chose fits the column, none is stored.
    key = hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None
    for _attempt in range(3):
        try:
            with transaction(deps.sessions) as session:
                if key is not None:
                    earlier = _existing(session, clinic.code, key)
                    if earlier is not None:
                        if not hmac.compare_digest(earlier.entries_digest, digest):
                            raise QualificationError(Code.BATCH_KEY_REUSED)
                        return _receipt(earlier)
                refuse_when_misses_spent(deps, session, clinic.code, now)
                spend(
                    session, clinic_code=clinic.code, budget=Budget.BATCH_ENTRIES,
                    count=len(request.entries), limit=deps.settings.batch_entries_per_day,
                    now=now,
                )  # fmt: skip
                number = (
                    f"{secrets.randbelow(10**RECEPTION_NUMBER_DIGITS):0{RECEPTION_NUMBER_DIGITS}d}"
                )
                batch = Batch(
                    reception_number=number,
                    clinic_code=clinic.code,
                    idempotency_key=key,
                    entries_digest=digest,
                    submitted_at=now,
                    confirmation_date=day,
                    arbitrary_file_identifier=request.arbitrary_file_identifier,
                    entry_count=len(request.entries),
                )
                session.add(batch)
                session.flush()
                session.add_all(
                    BatchEntry(
                        batch_id=batch.id,
                        position=position,
                        query_sealed=sealer.seal(
                            query.model_dump_json().encode(), _place(number, position, "query")
                        ),
                    )
                    for position, query in enumerate(request.entries)
                )
                receipt = _receipt(batch)
            log.info(
                "batch %s of clinic %s: %d entries received",
                number, clinic.code, len(request.entries),
            )  # fmt: skip
            return receipt
        except IntegrityError:
            # Another submission with the same key won the race (the next round answers its
            # batch), or, once in 10^16, the same reception number was drawn.
            continue
    raise QualificationError(Code.INTERNAL, "the batch could not be stored")


def fetch(deps: Dependencies, *, clinic: ClinicIdentity, reception_number: str) -> BatchResult:
    """The batch's result: 処理中 (SegmentOfResult 2, no units) until it is done. Another
    clinic's batch is answered like one that does not exist (Q4004)."""
    now = deps.clock()
    sealer = _sealer(deps)
    with deps.sessions() as session:
        batch = session.scalars(
            select(Batch).where(
                Batch.reception_number == reception_number, Batch.clinic_code == clinic.code
            )
        ).first()
        if batch is None:
            raise QualificationError(Code.BATCH_UNKNOWN)
        if batch.finished_at is None:
            return BatchResult(MessageHeader=_result_header(batch, now, units=None))
        sealed = session.scalars(
            select(BatchEntry.unit_sealed)
            .where(BatchEntry.batch_id == batch.id)
            .order_by(BatchEntry.position)
        ).all()
        units = [
            BulkUnit.model_validate_json(
                sealer.open(value or b"", _place(batch.reception_number, position, "unit"))
            )
            for position, value in enumerate(sealed)
        ]
        return BatchResult(
            MessageHeader=_result_header(batch, now, units=units), BulkConfirmUnit=units
        )


def _result_header(
    batch: Batch, now: dt.datetime, *, units: list[BulkUnit] | None
) -> BatchResultHeader:
    done = units or []  # 処理中: nothing to count yet
    errors = sum(1 for u in done if u.ProcessingResultStatus == "2")
    return BatchResultHeader(
        ProcessExecutionTime=timestamp(batch.finished_at if batch.finished_at else now),
        QualificationConfirmationDate=yyyymmdd(batch.confirmation_date),
        MedicalInstitutionCode=batch.clinic_code,
        ArbitraryFileIdentifier=batch.arbitrary_file_identifier,
        ReceptionNumber=batch.reception_number,
        SegmentOfResult="2" if units is None else "1",
        NumberOfProcessingResult=len(done),
        NumberOfNormalProcessing=len(done) - errors,
        NumberOfError=errors,
    )


def claim(deps: Dependencies) -> int | None:
    """Take the oldest batch nobody holds (or whose holder's lease ran out); its id."""
    with transaction(deps.sessions) as session:
        dialect = session.get_bind().dialect.name
        free = (Batch.finished_at.is_(None)) & (
            Batch.lease_until.is_(None) | (Batch.lease_until < database_now(dialect))
        )
        candidate = session.scalar(select(Batch.id).where(free).order_by(Batch.id).limit(1))
        if candidate is None:
            return None
        taken = session.execute(
            update(Batch)
            .where(Batch.id == candidate, free)
            .values(lease_until=database_now(dialect, LEASE_S))
        )
        return candidate if getattr(taken, "rowcount", 0) == 1 else None


def work_chunk(deps: Dependencies, batch_id: int) -> bool:
    """Look up the next chunk of the batch in one transaction; False once it is done."""
    sealer = _sealer(deps)
    now = deps.clock()
    with transaction(deps.sessions) as session:
        dialect = session.get_bind().dialect.name
        batch = session.get(Batch, batch_id)
        if batch is None or batch.finished_at is not None:
            return False
        entries = session.scalars(
            select(BatchEntry)
            .where(BatchEntry.batch_id == batch_id, BatchEntry.unit_sealed.is_(None))
            .order_by(BatchEntry.position)
            .limit(CHUNK)
        ).all()
        if not entries:
            batch.finished_at = now
            batch.lease_until = None
            log.info("batch %s done: %d entries", batch.reception_number, batch.entry_count)
            return False
        context = AnswerContext(
            clinic_code=batch.clinic_code,
            now=now,
            confirmation_date=batch.confirmation_date,
            reference_classification="2",
            arbitrary_file_identifier=batch.arbitrary_file_identifier,
        )
        misses_left = left(
            session, clinic_code=batch.clinic_code, budget=Budget.MISSES,
            limit=deps.settings.unmatched_lookups_per_hour, now=now,
        )  # fmt: skip
        misses = 0
        # The sealed units go as one executemany at commit, not an UPDATE before each next
        # entry's lookup (autoflush): 1.22× single lookups on PostgreSQL instead of 0.99×.
        with session.no_autoflush:
            for entry in entries:
                number = batch.reception_number
                query = InsuredCardQuery.model_validate_json(
                    sealer.open(entry.query_sealed, _place(number, entry.position, "query"))
                )
                spent = misses >= misses_left
                unit = _unit(deps, session, batch.clinic_code, query, context, spent)
                misses += unit.ProcessingResultCode == Code.INSURED_NUMBER_NOT_MATCHED.value
                entry.unit_sealed = sealer.seal(
                    unit.model_dump_json(exclude_none=True).encode(),
                    _place(number, entry.position, "unit"),
                )
        if misses:
            count_misses(session, batch.clinic_code, misses, now)
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(lease_until=database_now(dialect, LEASE_S))
        )
        return True


def _unit(
    deps: Dependencies,
    session: Session,
    clinic_code: str,
    query: InsuredCardQuery,
    context: AnswerContext,
    misses_spent: bool,
) -> BulkUnit:
    try:
        if misses_spent:  # guessing stops here, not at the batch's end
            raise exhausted(Budget.MISSES, context.now, "unmatched insured numbers this hour")
        body = lookup_one(
            deps, session, clinic_code=clinic_code, query=query, context=context
        ).answer.MessageBody
    except QualificationError as error:
        return BulkUnit(
            QualificationConfirmSearchInfo=query,
            ProcessingResultStatus="2",
            ProcessingResultCode=error.code.value,
            ProcessingResultMessage=error.info.front_desk,
            QualificationValidity="4",
        )
    results = body.ResultList.ResultOfQualificationConfirmation if body.ResultList else None
    return BulkUnit(
        QualificationConfirmSearchInfo=query,
        ProcessingResultStatus=body.ProcessingResultStatus,
        ProcessingResultCode=body.ProcessingResultCode,
        ProcessingResultMessage=body.ProcessingResultMessage,
        QualificationValidity=body.QualificationValidity,
        ResultOfQualificationConfirmation=results,
        ReferenceNumber=common_reference_number(results),
    )


def work(deps: Dependencies) -> int:
    """Look up every batch waiting (this instance's share); how many it finished."""
    finished = 0
    while (batch_id := claim(deps)) is not None:
        while work_chunk(deps, batch_id):
            pass
        finished += 1
    return finished


def prune(deps: Dependencies) -> int:
    """Remove the batches done longer ago than the retention period; how many."""
    cutoff = deps.clock() - dt.timedelta(hours=deps.settings.batch_retention_hours)
    with transaction(deps.sessions) as session:
        old = select(Batch.id).where(Batch.finished_at < cutoff)
        session.execute(delete(BatchEntry).where(BatchEntry.batch_id.in_(old)))
        result = session.execute(delete(Batch).where(Batch.finished_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


class BatchWorker:
    """Every instance's background worker: looks up waiting batches every `interval_s` and
    prunes old ones about once a minute."""

    def __init__(self, deps: Dependencies, interval_s: float = 0.5) -> None:
        self._deps = deps
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batches", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(self._interval):
            rounds += 1
            try:
                work(self._deps)
                if rounds % max(1, int(60 / self._interval)) == 0:
                    prune(self._deps)
            except SQLAlchemyError as exc:
                # The database is away: the batch stays leased, and is taken up again when
                # its lease runs out.
                log.warning("batches: the database failed: %s", type(exc).__name__)
            except Exception:  # the registry away, or a defect: logged, the worker goes on
                log.exception("batches: a batch could not be looked up; its lease will run out")
