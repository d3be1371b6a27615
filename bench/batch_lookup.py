"""Benchmark: the two-step 一括照会 against the same entries looked up one by one.

In process, without HTTP: a registry of `ENTRIES` members (two insurers, no 枝番 in the
queries, as receipt computers send them), one clinic, and one list of `ENTRIES` queries of
those members, one in `UNMATCHED_EVERY` with a wrong birth date (Q4001, within the misses
budget, which the run raises with the other limits). Side by side, in `ROUNDS` rounds that
turn which side goes first (so the access log's growth and the machine's drift fall on every
side alike):

    batch.worker.entries_per_s  `batches.work` from the submitted batch to done: the entries
                                opened, looked up (`lookup_one`), recorded and sealed,
                                `CHUNK` to a transaction
    lookup.single.per_s         the same queries through `lookup_one`, each in its own
                                transaction (a miss counted, as 個別照会 does): the raw
                                baseline of the worker's work
    lookup.insured_number.per_s the same through `insured_number_lookup`, the whole 個別照会
                                with its budget transaction (what a clinic asking one by one
                                costs the server)
    batch.worker.vs_single      the first over the second (aim ≥ 1)
    *.cpu_ms                    this process's CPU an entry took (not the database's)
    *.statements                SQL statements the server sent for an entry, to both
                                databases: an executemany and a COMMIT count one each, a BEGIN
                                only where the engine sends it as a statement (SQLite's BEGIN
                                IMMEDIATE), not where the driver does (psycopg's)
    batch.submit_ms             `batches.submit` of the `ENTRIES` queries (each sealed, stored)
    batch.fetch_ms              `batches.fetch` of the done batch (each unit opened, parsed)
    batch.seal_us_per_entry     sealing one query as submission does (its JSON, AES-GCM)
    batch.open_us_per_entry     opening one sealed unit as fetch does (AES-GCM only)

    .venv/bin/python bench/batch_lookup.py
    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test \
        .venv/bin/python bench/batch_lookup.py

On SQLite by default, in a temporary folder; with a PostgreSQL DATABASE_URL, in throw-away
databases created next to the one it names and dropped at the end (`auth_timing.database`).
`BENCH_PROFILE=batch` (or `single`) runs that side under cProfile and prints its 25 costliest
functions to stderr, each round (`BENCH_BATCH_ROUNDS=1` for one). Prints `name value unit`
lines.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from auth_timing import database  # the same throw-away databases
from sqlalchemy import Engine, event

from insurer_registry import db as registry_db
from insurer_registry.insurers.service import add_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import MemberRecord
from insurer_registry.members.service import register_member
from onshi_kernel.four_items import FourItems, InMemoryResidentRegister
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, complete_my_number, person_reference
from onshi_kernel.numbers import InsurerNumber, complete_insurer_number
from onshi_kernel.sealing import Sealer
from qualification_server.answers.eligibility import AnswerContext
from qualification_server.api.app import build_dependencies
from qualification_server.api.dependencies import Dependencies
from qualification_server.clinics.service import (
    ClinicAuthenticator,
    ClinicIdentity,
    register_clinic,
)
from qualification_server.contract.batch import BatchSubmission
from qualification_server.contract.schemas import InsuredCardQuery, InsuredNumberLookupRequest
from qualification_server.db import make_engine, migrate, transaction
from qualification_server.errors import Code, QualificationError
from qualification_server.lookups import batches
from qualification_server.lookups.service import (
    count_misses,
    insured_number_lookup,
    lookup_one,
)
from qualification_server.settings import FIXTURE_ISSUER, Settings

REPO = Path(__file__).resolve().parents[1]
ENTRIES = int(os.environ.get("BENCH_BATCH_ENTRIES", "2000"))
ROUNDS = int(os.environ.get("BENCH_BATCH_ROUNDS", "3"))  # each side runs once a round
UNMATCHED_EVERY = 20  # one query in 20 has a wrong birth date
PROFILE = os.environ.get("BENCH_PROFILE", "")  # "batch" or "single"
CLINIC = "1310000017"
INSURERS = (
    (InsurerNumber(complete_insurer_number("0113001")), "全国健康保険協会 東京支部", "記号12"),
    (InsurerNumber(complete_insurer_number("13101")), "千代田区国民健康保険", None),
)


def birth_date(i: int) -> dt.date:
    return dt.date(1940 + i % 60, 1 + i % 12, 1 + i % 28)


def seed_registry(url: str, members: int) -> None:
    """`members` people, each insured under one of `INSURERS` with card number 100000 + i."""
    rng = random.Random(14)
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    with registry_db.transaction(registry_db.make_session_factory(engine)) as s:
        insurers = [
            add_insurer(session=s, number=number, name=name) for number, name, _ in INSURERS
        ]
        for i in range(members):
            _, _, symbol = INSURERS[i % len(INSURERS)]
            my_number = complete_my_number(f"{rng.randrange(10**11):011d}")
            person_ref = person_reference(my_number, DEVELOPMENT_PSEUDONYM_KEY)
            sex = Sex.MALE if i % 2 else Sex.FEMALE
            # The issuer knows each member as the insurer states them: every one matches.
            known = FourItems(name=f"試験 {i}", birthdate=birth_date(i), sex=sex.value)
            register_member(
                session=s, insurer=insurers[i % len(insurers)], actor=Actor.operator("bench"),
                person_ref=person_ref, register=InMemoryResidentRegister({person_ref: known}),
                record=MemberRecord(
                    number=str(100000 + i), branch="00", symbol=symbol,
                    card_classification=InsuredCardClassification.GENERAL,
                    personal_family=PersonalFamilyClassification.INSURED,
                    name=f"試験 {i}", name_kana="シケン", sex=sex,
                    birthdate=birth_date(i), qualification_date=dt.date(2020, 4, 1),
                    contribution_ratio=ContributionRatio.THIRTY_PERCENT,
                ),
            )  # fmt: skip
    engine.dispose()


def queries(members: int) -> list[InsuredCardQuery]:
    """One query per member, as the card shows it; every `UNMATCHED_EVERY`th with the wrong
    birth date (a day later)."""
    found = []
    for i in range(members):
        number, _, symbol = INSURERS[i % len(INSURERS)]
        born = birth_date(i) + dt.timedelta(days=1 if i % UNMATCHED_EVERY == 0 else 0)
        found.append(
            InsuredCardQuery(
                InsurerNumber=number.digits,
                InsuredCardSymbol=symbol,
                InsuredIdentificationNumber=str(100000 + i),
                Birthdate=born.strftime("%Y%m%d"),
            )
        )
    return found


def server(url: str, registry_url: str) -> tuple[Dependencies, ClinicIdentity]:
    """The server wired as `serve` wires it, its limits raised for the run; one clinic."""
    issuer = REPO / FIXTURE_ISSUER
    settings = Settings(
        env="development",
        database_url=url,
        registry_database_url=registry_url,
        jpki_ca_files=[issuer / "ca" / "auth_ca.pem"],
        jpki_crl_files=[issuer / "crl" / "auth_ca.crl"],
        issuer_directory_files=[issuer / "directory.json"],
        batch_max_entries=ENTRIES,
        batch_entries_per_day=ENTRIES * ROUNDS,
        insured_lookups_per_minute=ENTRIES * (ROUNDS + 1),
        unmatched_lookups_per_hour=ENTRIES * ROUNDS * 3,  # every side's misses, never spent
    )
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    deps = build_dependencies(settings)
    with transaction(deps.sessions) as s:
        token = register_clinic(session=s, code=CLINIC, name="bench", now=deps.clock())
    return deps, ClinicAuthenticator(deps.sessions).authenticate(token)


def profiled(side: str, run: Callable[[], object]) -> None:
    """`run`, under cProfile when `BENCH_PROFILE` names this side."""
    if side != PROFILE:
        run()
        return
    profile = cProfile.Profile()
    profile.runcall(run)
    print(f"# profile of {side}:", file=sys.stderr)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)


class Sides:
    """What each side took over the rounds: seconds, this process's CPU seconds, and the SQL
    statements the server sent to its two databases (as the module's docstring counts them);
    and the batch's submissions and fetches, in ms."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu_seconds: defaultdict[str, float] = defaultdict(float)  # this process's
        self.statements: Counter[str] = Counter()
        self.submit_ms: list[float] = []
        self.fetch_ms: list[float] = []
        self._side: str | None = None
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._statement)

    def _statement(self, *_args: object) -> None:
        if self._side is not None:
            self.statements[self._side] += 1

    @contextmanager
    def timed(self, side: str) -> Iterator[None]:
        self._side = side
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[side] += time.perf_counter() - started
            self.cpu_seconds[side] += time.process_time() - cpu
            self._side = None


def one_by_one(deps: Dependencies, clinic: ClinicIdentity, entries: list[InsuredCardQuery]) -> None:
    """Each query through `lookup_one` in its own transaction, as 個別照会's lookup runs."""
    now = deps.clock()
    context = AnswerContext(
        clinic_code=clinic.code, now=now, confirmation_date=now.date(),
        reference_classification="2", arbitrary_file_identifier=None,
    )  # fmt: skip
    for query in entries:
        with transaction(deps.sessions) as session:
            try:
                lookup_one(deps, session, clinic_code=clinic.code, query=query, context=context)
            except QualificationError as exc:
                if exc.code is not Code.INSURED_NUMBER_NOT_MATCHED:
                    raise
                count_misses(session, clinic.code, 1, now)


def as_insured_number_lookups(
    deps: Dependencies, clinic: ClinicIdentity, entries: list[InsuredCardQuery]
) -> None:
    """Each query as a whole 個別照会 (its budget transaction, then its lookup's)."""
    for query in entries:
        try:
            insured_number_lookup(
                deps, clinic=clinic, request=InsuredNumberLookupRequest(query=query)
            )
        except QualificationError as exc:
            if exc.code is not Code.INSURED_NUMBER_NOT_MATCHED:
                raise


def as_batch(
    deps: Dependencies, clinic: ClinicIdentity, submission: BatchSubmission, sides: Sides
) -> str:
    """Submit the batch (timed apart) and let the worker look it up: its reception number."""
    started = time.perf_counter()
    receipt = batches.submit(deps, clinic=clinic, request=submission)
    sides.submit_ms.append(1000 * (time.perf_counter() - started))
    with sides.timed("batch"):
        profiled("batch", lambda: batches.work(deps))
    return receipt.MessageHeader.ReceptionNumber


def fetched(
    deps: Dependencies, clinic: ClinicIdentity, reception_number: str, sides: Sides
) -> None:
    """Fetch the done batch (timed) and check that every entry was answered as meant."""
    started = time.perf_counter()
    result = batches.fetch(deps, clinic=clinic, reception_number=reception_number)
    sides.fetch_ms.append(1000 * (time.perf_counter() - started))
    header = result.MessageHeader
    unmatched = len(range(0, ENTRIES, UNMATCHED_EVERY))
    if (header.SegmentOfResult, header.NumberOfProcessingResult, header.NumberOfError) != (
        "1", ENTRIES, unmatched,
    ):  # fmt: skip
        raise SystemExit(f"the batch was not answered as expected: {header}")


def seal_costs(deps: Dependencies, entries: list[InsuredCardQuery]) -> tuple[float, float]:
    """µs to seal one query as `submit` does, and to open one sealed value as `fetch` does."""
    sealer = Sealer(deps.settings.challenge_key_bytes, "batch entries")
    places = [f"0000000000000000/{i}/query".encode() for i in range(len(entries))]
    started = time.perf_counter()
    sealed = [
        sealer.seal(query.model_dump_json().encode(), place)
        for query, place in zip(entries, places, strict=True)
    ]
    seal_us = 1e6 * (time.perf_counter() - started) / len(entries)
    started = time.perf_counter()
    for value, place in zip(sealed, places, strict=True):
        sealer.open(value, place)
    open_us = 1e6 * (time.perf_counter() - started) / len(entries)
    return seal_us, open_us


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        with database(folder, "registry") as registry_url, database(folder, "server") as url:
            seed_registry(registry_url, ENTRIES)
            deps, clinic = server(url, registry_url)
            entries = queries(ENTRIES)
            submission = BatchSubmission(entries=entries)
            as_insured_number_lookups(deps, clinic, entries[:50])  # warm the pools and caches
            times = Sides()

            def batch() -> None:
                fetched(deps, clinic, as_batch(deps, clinic, submission, times), times)

            def single() -> None:
                with times.timed("single"):
                    profiled("single", lambda: one_by_one(deps, clinic, entries))

            def insured_number() -> None:
                with times.timed("insured_number"):
                    as_insured_number_lookups(deps, clinic, entries)

            order = [single, batch, insured_number]
            for round_ in range(ROUNDS):  # who goes first turns each round
                for run in order[round_ % 3 :] + order[: round_ % 3]:
                    run()
            seal_us, open_us = seal_costs(deps, entries)
            deps.sessions.kw["bind"].dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    looked_up = ENTRIES * ROUNDS
    print(f"batch.entries {ENTRIES} entries")
    seconds, statements = times.seconds, times.statements
    print(f"batch.worker.entries_per_s {looked_up / seconds['batch']:.0f} entries/s")
    print(f"lookup.single.per_s {looked_up / seconds['single']:.0f} lookups/s")
    print(f"lookup.insured_number.per_s {looked_up / seconds['insured_number']:.0f} lookups/s")
    print(f"batch.worker.vs_single {seconds['single'] / seconds['batch']:.2f} ratio")
    for side, name in (("batch", "batch.worker"), ("single", "lookup.single"),
                       ("insured_number", "lookup.insured_number")):  # fmt: skip
        print(f"{name}.statements {statements[side] / looked_up:.2f} statements/entry")
        print(f"{name}.cpu_ms {1000 * times.cpu_seconds[side] / looked_up:.2f} ms/entry")
    print(f"batch.submit_ms {statistics.median(times.submit_ms):.0f} ms")
    print(f"batch.fetch_ms {statistics.median(times.fetch_ms):.0f} ms")
    print(f"batch.seal_us_per_entry {seal_us:.1f} us")
    print(f"batch.open_us_per_entry {open_us:.1f} us")


if __name__ == "__main__":
    main()
