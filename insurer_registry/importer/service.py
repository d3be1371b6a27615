"""`import_csv`: one file, one transaction.

1. Stream the file (UTF-8 or CP932) row by row; each row is validated on its own
   (`rows.RowParser`), matched against the issuer's resident register a batch at a time
   (`ResidentRegister.match_many`, set-wise), and written to a staging table with the linkage
   the match gave it (COPY on PostgreSQL). Rejected rows are reported as they are found.
   Memory stays flat: nothing grows with the file but a batch.
2. Check the staged rows as a set against each other and the registry (`merge`).
3. Unless every row passed, stop: by default a file is all-or-nothing and `ImportRejected`
   rolls the caller's transaction back. With `partial=True` the good rows go on.
4. Rows that restate a registered qualification identically change nothing; rows that
   change one are applied through the member service (validated, versioned, logged in the
   change log, matched again when the four items change); new rows are inserted with one
   INSERT … SELECT each for persons, qualifications (with their linkage) and their `linked`
   linkage events, which point to the `imports` row that records who imported what, when.

A row whose four items do not match the issuer's is imported but held (not answered to
clinics until corrected or confirmed): it is not a rejection, and the report lists it.

So re-importing a file changes nothing. 特定疾病 certificates are not part of the CSV; an
import leaves those of existing qualifications as they are.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from insurer_registry.digests import keyed_digest
from insurer_registry.error_codes import RegistryCode
from insurer_registry.errors import Conflict, InsurerNotFound, RegistryError
from insurer_registry.importer import merge, staging
from insurer_registry.importer.csv_source import ImportFileInvalid, detect_encoding, read_rows
from insurer_registry.importer.rows import PARSED_PREFIX, Rejection, RowParser, StagedRow, describe
from insurer_registry.insurers.service import InsurerInfo
from insurer_registry.linkage.state import (
    Linkage,
    LinkageState,
    decode_outcomes,
    encode_outcomes,
    state_after,
)
from insurer_registry.members.audit import Actor
from insurer_registry.members.domain import FLAT_FIELDS, InvalidRecord, record_from_flat
from insurer_registry.members.service import apply_imported_record
from insurer_registry.models import NO_SYMBOL, Import, Insurer, utc_now
from onshi_kernel.four_items import FourItemMatch, FourItems, Item, ResidentRegister

log = logging.getLogger(__name__)
# The reasons a refused file's log line counts, the most frequent first (the rest summed).
LOGGED_REASONS = 5
_COUNTED_REASONS = 100  # distinct reasons counted per import: the texts are the parser's own
PROGRESS_EVERY_ROWS = 10_000
KEEP_REJECTIONS = 1000
KEEP_HELD = 1000
MATCH_BATCH_ROWS = 5000  # rows matched against the register at once (`Settings.import_batch_rows`)


@dataclass(frozen=True, slots=True)
class HeldLine:
    """A row imported but held: its line, its qualification, which items differ from the
    issuer's, whether the issuer knows the person at all. Never a value."""

    line: int
    qualification_id: int | None
    differing: tuple[Item, ...]
    person_known: bool

    def describe(self) -> str:
        """Why the row is held, in words (item names only)."""
        if not self.person_known:
            return "the issuer knows no person with this My Number"
        if not self.differing:
            return "name, birth date and sex could not all be compared with the issuer's"
        verb = "differs" if len(self.differing) == 1 else "differ"
        return f"{', '.join(item.value for item in self.differing)} {verb} from the issuer's"


def _held_line(line: int, qualification_id: int | None, linkage: Linkage) -> HeldLine:
    return HeldLine(line, qualification_id, linkage.differing, linkage.person_known)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. `rejections` holds the first `KEEP_REJECTIONS` (by line);
    `on_rejection` sees every one. `held` counts the rows imported but held (their four
    items do not match the issuer's); `held_lines` lists the first `KEEP_HELD` by line."""

    encoding: str
    file_digest: str  # keyed (`digests`): the file holds My Numbers
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    committed: bool
    import_id: int | None
    rejections: tuple[Rejection, ...]
    held: int = 0
    held_lines: tuple[HeldLine, ...] = ()

    @property
    def rejections_truncated(self) -> bool:
        """True if more rows were rejected than `rejections` lists."""
        return self.rejected > len(self.rejections)

    @property
    def held_truncated(self) -> bool:
        """True if more rows were held than `held_lines` lists."""
        return self.held > len(self.held_lines)


class ImportRejected(RegistryError):
    """An all-or-nothing import found rejected rows: nothing was imported."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            RegistryCode.IMPORT_REJECTED, f"{report.rejected} row(s) rejected: nothing imported"
        )
        self.report = report


class _HashingReader(io.RawIOBase):
    """Passes a binary file through while hashing what is read."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.sha256.update(data)
        self.consumed += len(data)
        return len(data)


class _Rejections:
    def __init__(self, sink: Callable[[Rejection], None] | None) -> None:
        self._sink = sink
        self.kept: list[Rejection] = []
        self.lines: set[int] = set()
        self.reasons: Counter[str] = Counter()

    def add(self, rejection: Rejection) -> None:
        # `lines` holds only rejected line numbers: bounded by the rejections themselves.
        self.lines.add(rejection.line)
        if rejection.reason in self.reasons or len(self.reasons) < _COUNTED_REASONS:
            self.reasons[rejection.reason] += 1
        if len(self.kept) < KEEP_REJECTIONS:
            self.kept.append(rejection)
        if self._sink is not None:
            self._sink(rejection)

    @property
    def count(self) -> int:
        return len(self.lines)


# Where the four items sit in a parsed row.
_AT = {name: PARSED_PREFIX + FLAT_FIELDS.index(name) for name in FLAT_FIELDS}
_NAME, _KANA, _BIRTHDATE = _AT["name"], _AT["name_kana"], _AT["birthdate"]
_SEX, _ADDRESS = _AT["sex"], _AT["address"]


class _MatchingWriter:
    """Collects parsed rows and matches them against the register a batch at a time (one
    `match_many` per batch), then writes each to the staging table with its linkage."""

    def __init__(
        self, writer: staging.StagingWriter, register: ResidentRegister, batch_rows: int
    ) -> None:
        self._writer = writer
        self._register = register
        self._batch_rows = max(1, batch_rows)
        self._batch: list[StagedRow] = []
        # A handful of distinct answers recur: their stored form is computed once each.
        self._stored: dict[FourItemMatch, tuple[str, str]] = {}

    def write(self, row: StagedRow) -> None:
        self._batch.append(row)
        if len(self._batch) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        matches = self._register.match_many(
            [
                (
                    row[2],
                    FourItems(
                        name=row[_NAME],
                        birthdate=row[_BIRTHDATE],
                        sex=row[_SEX],
                        address=row[_ADDRESS],
                        name_kana=row[_KANA],
                    ),
                )
                for row in batch
            ]
        )
        stored, write = self._stored, self._writer.write
        for row, match in zip(batch, matches, strict=True):
            linkage = stored.get(match)
            if linkage is None:
                linkage = stored[match] = (state_after(match).value, encode_outcomes(match))
            write((*row, *linkage))


def _registered_insurers(session: Session) -> dict[str, int]:
    return {number: id_ for id_, number in session.execute(select(Insurer.id, Insurer.number))}


def import_csv(
    *,
    session: Session,
    source: BinaryIO,
    pseudonym_key: bytes,
    actor: Actor,
    register: ResidentRegister,
    insurer: InsurerInfo | None = None,
    partial: bool = False,
    encoding: str | None = None,
    on_rejection: Callable[[Rejection], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    match_batch_rows: int = MATCH_BATCH_ROWS,
) -> ImportReport:
    """Import one member CSV in the session's transaction, every row matched against the
    issuer's `register` (`match_batch_rows` at a time): a row that does not match is imported
    held and listed in the report's `held_lines`.

    `insurer` restricts the file to that insurer's rows (an insurer importing its own
    members); without it (the operator) rows may name any registered insurer. Raises
    `ImportRejected` when rows are rejected and `partial` is false, `ImportFileInvalid`
    when the file cannot be read at all. A file refused whole, or imported with rows
    refused, is logged for IT (`_log_refused`, `_log_unreadable`): never a row's values.
    """
    try:
        return _import_csv(
            session=session, source=source, pseudonym_key=pseudonym_key, actor=actor,
            register=register, insurer=insurer, partial=partial, encoding=encoding,
            on_rejection=on_rejection, on_progress=on_progress, match_batch_rows=match_batch_rows,
        )  # fmt: skip
    except ImportFileInvalid as error:
        _log_unreadable(source, pseudonym_key, actor, insurer, error)
        raise


def _file_digest(source: BinaryIO, pseudonym_key: bytes) -> str:
    """The keyed digest of the whole file (the `Import` record's id of a file), read anew."""
    source.seek(0)
    sha256 = hashlib.sha256()
    while chunk := source.read(1 << 16):
        sha256.update(chunk)
    return keyed_digest(pseudonym_key, "import-file", sha256.digest())


def _log_unreadable(
    source: BinaryIO,
    pseudonym_key: bytes,
    actor: Actor,
    insurer: InsurerInfo | None,
    error: ImportFileInvalid,
) -> None:
    log.warning(
        "import file refused code=%s file=%s by=%s idempotency_key=%s insurer=%s line=%s reason=%s",
        RegistryCode.INVALID_FILE, _file_digest(source, pseudonym_key), actor.label,
        actor.request_id or "-", insurer.number.digits if insurer else "-",
        error.line if error.line is not None else "-", _kind_of(error.reason),
    )  # fmt: skip


def _kind_of(reason: str) -> str:
    """A file problem's kind without what follows its colon: `unknown column(s): …` lists
    the first line's cells, which are a member's values when a file has no header."""
    return reason.split(":", 1)[0]


def _log_refused(
    report: ImportReport,
    reasons: Counter[str],
    actor: Actor,
    insurer: InsurerInfo | None,
    code: RegistryCode | None,
) -> None:
    """One line for IT per import that refused rows: the file by its keyed digest, the counts,
    the code when the whole file was refused (R1007), and the reasons counted (the parser's
    own texts, `field: reason`, never a value)."""
    shown = reasons.most_common(LOGGED_REASONS)
    rest = report.rejected - sum(n for _, n in shown)
    counted = "; ".join(f"{reason} ×{n}" for reason, n in shown)
    log.warning(
        "import rows refused code=%s file=%s import=%s by=%s idempotency_key=%s insurer=%s "
        'rows=%d rejected=%d committed=%s reasons="%s%s"',
        code or "-", report.file_digest, report.import_id or "-", actor.label,
        actor.request_id or "-", insurer.number.digits if insurer else "-", report.rows,
        report.rejected, "yes" if report.committed else "no", counted,
        f"; others ×{rest}" if rest > 0 else "",
    )  # fmt: skip


def _import_csv(
    *,
    session: Session,
    source: BinaryIO,
    pseudonym_key: bytes,
    actor: Actor,
    register: ResidentRegister,
    insurer: InsurerInfo | None = None,
    partial: bool = False,
    encoding: str | None = None,
    on_rejection: Callable[[Rejection], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    match_batch_rows: int = MATCH_BATCH_ROWS,
) -> ImportReport:
    """`import_csv` without its log line of an unreadable file."""
    started = utc_now()
    chosen = encoding or detect_encoding(source)
    source.seek(0)
    hashing = _HashingReader(source)
    header, raw_rows = read_rows(io.BufferedReader(hashing, buffer_size=1 << 16), chosen)
    parser = RowParser(
        header=header,
        insurers=_registered_insurers(session),
        pseudonym_key=pseudonym_key,
        only_insurer_id=insurer.id if insurer else None,
    )
    rejections = _Rejections(on_rejection)
    connection = session.connection()
    staging.create_tables(connection)
    writer = staging.StagingWriter(connection)
    matching = _MatchingWriter(writer, register, match_batch_rows)
    rows = 0
    try:
        for raw in raw_rows:
            rows += 1
            parsed = parser.parse(raw)
            if isinstance(parsed, Rejection):
                rejections.add(parsed)
            else:
                matching.write(parsed)
            if on_progress is not None and rows % PROGRESS_EVERY_ROWS == 0:
                on_progress(hashing.consumed)
        matching.flush()
    finally:
        writer.close()
    if on_progress is not None:
        on_progress(hashing.consumed)

    log.debug("import: %d rows parsed and staged in %.2f s", rows, _since(started))
    staging.index_tables(connection)
    merge.lock_registry(connection)
    merge.run_checks(connection)
    log.debug("import: staged rows checked at %.2f s", _since(started))
    for line, reason in merge.rejected_lines(connection):
        rejections.add(Rejection(line, reason))

    def report(
        *,
        inserted: int = 0,
        updated: int = 0,
        unchanged: int = 0,
        committed: bool = False,
        import_id: int | None = None,
        held: int = 0,
        held_lines: tuple[HeldLine, ...] = (),
    ) -> ImportReport:
        return ImportReport(
            encoding=chosen,
            file_digest=keyed_digest(pseudonym_key, "import-file", hashing.sha256.digest()),
            rows=rows,
            inserted=inserted,
            updated=updated,
            unchanged=unchanged,
            rejected=rejections.count,
            committed=committed,
            import_id=import_id,
            rejections=tuple(sorted(rejections.kept, key=lambda r: r.line)),
            held=held,
            held_lines=held_lines,
        )

    if rejections.count and not partial:
        staging.drop_tables(connection)
        refused = report()
        _log_refused(refused, rejections.reasons, actor, insurer, RegistryCode.IMPORT_REJECTED)
        raise ImportRejected(refused)
    merge.drop_rejected(connection)

    record = Import(
        insurer_id=insurer.id if insurer else None,
        actor=actor.label,
        request_id=actor.request_id,
        file_digest=keyed_digest(pseudonym_key, "import-file", hashing.sha256.digest()),
        encoding=chosen,
        rows_read=rows,
        inserted=0,
        updated=0,
        unchanged=0,
        rejected=0,
        started_at=started,
        finished_at=started,
    )
    session.add(record)
    session.flush()
    unchanged = merge.count_unchanged(connection)
    updated, held_changed, held_changed_lines = _apply_changes(
        session, record.id, actor, register, rejections
    )
    if rejections.count and not partial:
        staging.drop_tables(connection)
        refused = report()
        _log_refused(refused, rejections.reasons, actor, insurer, RegistryCode.IMPORT_REJECTED)
        raise ImportRejected(refused)
    log.debug("import: changes applied at %.2f s", _since(started))
    inserted = merge.insert_new(
        connection,
        import_id=record.id,
        now=utc_now(),
        actor=actor.label,
        request_id=actor.request_id,
    )
    log.debug("import: new rows inserted at %.2f s", _since(started))
    held_new, held_new_lines = merge.held_new(connection, limit=KEEP_HELD)
    held = held_new + held_changed
    held_lines = tuple(
        sorted(
            [
                *held_changed_lines,
                *(
                    HeldLine(line, qualification_id, *_differing(outcomes))
                    for line, qualification_id, outcomes in held_new_lines
                ),
            ],
            key=lambda held_line: held_line.line,
        )[:KEEP_HELD]
    )
    staging.drop_tables(connection)
    if not inserted and not updated:
        # Re-importing a file changes nothing, not even the list of imports.
        session.delete(record)
        session.flush()
        log.info("import by %s: %d rows, nothing new (%d unchanged)", actor.label, rows, unchanged)
        done = report(unchanged=unchanged, committed=True)
        if rejections.count:
            _log_refused(done, rejections.reasons, actor, insurer, None)
        return done
    record.inserted, record.updated, record.unchanged = inserted, updated, unchanged
    record.rejected = rejections.count
    record.finished_at = utc_now()
    session.flush()
    done = report(
        inserted=inserted, updated=updated, unchanged=unchanged, committed=True,
        import_id=record.id, held=held, held_lines=held_lines,
    )  # fmt: skip
    if rejections.count:
        _log_refused(done, rejections.reasons, actor, insurer, None)
    log.info(
        "import %s by %s: %d rows, %d inserted, %d updated, %d unchanged, %d rejected, %d held",
        record.id,
        actor.label,
        rows,
        inserted,
        updated,
        unchanged,
        rejections.count,
        held,
    )
    return done


def _since(started: datetime) -> float:
    return (utc_now() - started).total_seconds()


def _differing(outcomes: str | None) -> tuple[tuple[Item, ...], bool]:
    """(differing items, person known) of stored outcomes."""
    known, pairs = decode_outcomes(outcomes)
    return Linkage(LinkageState.HELD, known, pairs).differing, known


def _apply_changes(
    session: Session,
    import_id: int,
    actor: Actor,
    register: ResidentRegister,
    rejections: _Rejections,
) -> tuple[int, int, list[HeldLine]]:
    """Apply rows that change registered qualifications, each through the member service in
    its own savepoint (which matches again when the four items change); a row that breaks a
    rule becomes a rejection. Returns (updated, held after the change, the first held)."""
    insurers: dict[int, InsurerInfo] = {}
    updated = held = 0
    held_lines: list[HeldLine] = []
    connection = session.connection()
    for line, qualification_id, insurer_id, values in merge.changed_rows(connection):
        if insurer_id not in insurers:
            row = session.get(Insurer, insurer_id)
            if row is None:  # staged rows only name registered insurers
                raise InsurerNotFound(str(insurer_id))
            insurers[insurer_id] = InsurerInfo.of(row)
        if values["symbol"] == NO_SYMBOL:
            values = {**values, "symbol": None}
        try:
            with session.begin_nested():
                member = apply_imported_record(
                    session=session,
                    insurer=insurers[insurer_id],
                    qualification_id=qualification_id,
                    record=record_from_flat(dict(values)),
                    actor=actor,
                    import_id=import_id,
                    register=register,
                )
        except InvalidRecord as error:
            rejections.add(Rejection(line, describe(error.problems)))
            continue
        except Conflict as error:
            rejections.add(Rejection(line, error.detail or error.info.it))
            continue
        updated += 1
        if member.linkage.state is LinkageState.HELD:
            held += 1
            if len(held_lines) < KEEP_HELD:
                held_lines.append(_held_line(line, qualification_id, member.linkage))
    return updated, held, held_lines
