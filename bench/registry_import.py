"""Benchmark: bulk import of a generated member CSV into PostgreSQL, against the ceiling
of a raw COPY of the same rows into the same table, and with its four-item match against the
issuer's resident register (issue 17) against the same import without it.

    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test .venv/bin/python \
        bench/registry_import.py [--rows 1000000]     (or BENCH_ROWS=200000)

Works in a throw-away database created next to the one DATABASE_URL names, dropped at the
end. The file is imported twice, into the emptied tables: first against a stand-in register
that answers "matched" without comparing anything (the import without matching), then
against an in-memory register of every generated person as the issuer knows them (2 % of
them by other items, so held; others spelt another way that still matches). Prints one
`name value unit` line per figure:

    registry.import.rows_per_s          the import: parse, validate, match, stage, check,
                                        merge, commit
    registry.import.unmatched_rows_per_s  the same import against the stand-in register
    registry.import.matching_ratio      the first over the second (the issue asks ≥ 0.5)
    registry.import.held                rows the match held
    registry.copy.rows_per_s            COPY of the imported rows back into the emptied table
    registry.import.ceiling_ratio       the import over the COPY
    registry.import.peak_rss_mb         the process's peak resident memory during the import
                                        without matching (before the register is built)
    registry.import.register_rss_mb     the peak with the register of every person in memory

and, because a shared machine moves the wall-clock figures by 2× from one minute to the next,
the CPU time each spent a row, in this process (client) and in its PostgreSQL backend
(server, read from /proc when the database runs on this machine):

    registry.import.client_cpu_us       the import (with matching), this process
    registry.import.server_cpu_us       the import (with matching), its backend
    registry.copy.client_cpu_us         the COPY, this process
    registry.copy.server_cpu_us         the COPY, its backend
    registry.import.cpu_ceiling_ratio   the COPY's CPU a row over the import's (both sides)
    registry.import.overlap_bound_ratio the best `ceiling_ratio` the import's own CPU allows
                                        here: its two halves (this process and its backend,
                                        each one thread) fully overlapped, on this machine's
                                        cores; an aim above it needs less CPU, not overlap
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections.abc import Iterator, Sequence

from insurer_registry.db import make_engine, make_session_factory, migrate, transaction
from insurer_registry.importer.service import ImportReport, import_csv
from insurer_registry.insurers.service import add_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.domain import ELEMENT_NAMES
from onshi_kernel.four_items import (
    FourItemMatch,
    FourItems,
    InMemoryResidentRegister,
    Item,
    Outcome,
    ResidentRegister,
)
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, complete_my_number, person_reference
from onshi_kernel.numbers import InsurerNumber, complete_insurer_number

DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
INSURERS = 50
COLUMNS = [
    "InsurerNumber",
    "MyNumber",
    *(ELEMENT_NAMES[name] for name in (
        "symbol", "number", "branch", "card_classification", "personal_family",
        "insured_name", "name", "name_kana", "sex", "birthdate", "address", "post_number",
        "qualification_date", "disqualification_date", "reason_of_loss",
        "contribution_ratio", "certificate_issuance_date", "card_valid_date",
    )),
]  # fmt: skip
SURNAMES = [("山田", "ヤマダ"), ("鈴木", "スズキ"), ("佐藤", "サトウ"), ("高橋", "タカハシ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("陽子", "ヨウコ")]


def insurer_numbers() -> list[str]:
    """Distinct valid insurer numbers: 組合 (06), 協会けんぽ (01) and 国保 (6 digits)."""
    numbers = [complete_insurer_number(f"0613{n:03d}") for n in range(INSURERS // 2)]
    numbers += [complete_insurer_number(f"13{n:03d}") for n in range(INSURERS - len(numbers))]
    return numbers


ADDRESS = "東京都千代田区霞が関１－２－２"
# How the issuer writes the same address for some: another spelling the match must equate.
ISSUER_ADDRESSES = (ADDRESS, "千代田区霞が関一丁目2番2号", "東京都千代田区霞ヶ関1-2-2")
MISMATCH_EVERY = 50  # 2 % of the persons: the issuer knows them by another name


def members(rows: int, insurers: list[str]) -> Iterator[list[str]]:
    """`rows` valid members, one qualification each, as CSV rows (deterministic)."""
    rng = random.Random(20240401)
    day0 = date(1940, 1, 1)
    for i in range(rows):
        surname, given = SURNAMES[i % 4], GIVEN[(i // 4) % 4]
        born = day0 + timedelta(days=rng.randrange(0, 30_000))
        acquired = max(born, date(2015, 4, 1)) + timedelta(days=rng.randrange(0, 2000))
        lost = i % 10 == 0
        yield [
            insurers[i % len(insurers)],
            complete_my_number(f"{10_000_000_000 + i:011d}"),
            "東京" if i % 3 else "",
            f"{i:08d}",
            f"{i % 5:02d}",
            "01",
            "1" if i % 5 == 0 else "2",
            f"{surname[0]}　{given[0]}",
            f"{surname[0]}　{given[0]}",
            f"{surname[1]}　{given[1]}",
            str(1 + i % 2),
            born.strftime("%Y%m%d"),
            ADDRESS,
            "100-8916",
            acquired.strftime("%Y%m%d"),
            (acquired + timedelta(days=400)).strftime("%Y%m%d") if lost else "",
            "03" if lost else "",
            "030",
            acquired.strftime("%Y%m%d"),
            acquired.strftime("%Y%m%d"),
        ]


def generate(path: Path, rows: int, insurers: list[str]) -> None:
    """Write `rows` valid members, one qualification each, streaming to `path`."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(members(rows, insurers))


def issuer_register(rows: int, insurers: list[str]) -> tuple[InMemoryResidentRegister, int]:
    """The issuer's register of every generated person, and how many it knows by other
    items than the file's (those rows are held)."""
    at = {name: COLUMNS.index(name) for name in ("MyNumber", "Name", "NameKana", "Sex1")}
    entries: dict[str, FourItems] = {}
    differing = 0
    for i, member in enumerate(members(rows, insurers)):
        name = member[at["Name"]]
        if i % MISMATCH_EVERY == 0:
            name, differing = "斎藤　一郎", differing + 1
        born = member[at["Sex1"] + 1]
        entries[person_reference(member[at["MyNumber"]], DEVELOPMENT_PSEUDONYM_KEY)] = FourItems(
            name=name,
            birthdate=date(int(born[:4]), int(born[4:6]), int(born[6:])),
            sex=member[at["Sex1"]],
            address=ISSUER_ADDRESSES[i % len(ISSUER_ADDRESSES)],
            name_kana=member[at["NameKana"]],
        )
    return InMemoryResidentRegister(entries), differing


# Bench-only: the import without matching. It answers every claim "matched" without looking
# at it, so the import does all its other work (and stores the linkage) and the difference
# with the real register is the match itself. Never a register for anything but this figure.
_MATCHED = FourItemMatch(person_known=True, outcomes=tuple((item, Outcome.MATCH) for item in Item))


class MatchesEverything:
    """A stand-in `ResidentRegister` that compares nothing (bench only, see above)."""

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        """Matched, unseen."""
        return _MATCHED

    def match_many(self, claims: Sequence[tuple[str, FourItems]]) -> list[FourItemMatch]:
        """Matched, every one, unseen."""
        return [_MATCHED] * len(claims)


def own_cpu_s() -> float:
    """This process's CPU time so far (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu_s(pid: int) -> float:
    """A PostgreSQL backend's CPU time so far, NaN when its /proc entry cannot be read (the
    database on another machine, or another user's process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """CPU time of this process and of one backend between `start` and `stop`."""

    def __init__(self, backend_pid: int) -> None:
        self._pid = backend_pid
        self.client = self.server = 0.0

    def start(self) -> None:
        self.client, self.server = -own_cpu_s(), -backend_cpu_s(self._pid)

    def stop(self) -> None:
        self.client += own_cpu_s()
        self.server += backend_cpu_s(self._pid)


def peak_rss_mb() -> float:
    """The peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 1_000_000)))
    parser.add_argument("--verbose", action="store_true", help="log the import's phases")
    args = parser.parse_args()
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)8.0f %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
    base = make_url(os.environ.get("DATABASE_URL", DEFAULT_URL))
    if base.get_backend_name() != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL in DATABASE_URL")
    name = f"onshi_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(
        base.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        run(engine, args.rows)
    finally:
        engine.dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run(engine: object, rows: int) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    migrate(engine)
    sessions = make_session_factory(engine)
    numbers = insurer_numbers()
    with transaction(sessions) as session:
        for number in numbers:
            add_insurer(session=session, number=InsurerNumber(number), name=f"保険者 {number}")
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "members.csv"
        generate(csv_path, rows, numbers)

        def timed_import(register: ResidentRegister) -> tuple[float, ImportReport, CpuClock]:
            started = time.perf_counter()
            with transaction(sessions) as session, csv_path.open("rb") as source:
                pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
                clock = CpuClock(pid)
                clock.start()
                report = import_csv(
                    session=session,
                    source=source,
                    pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
                    actor=Actor.operator("bench"),
                    register=register,
                )
                clock.stop()  # before the commit, as the COPY's clock stops
            seconds = time.perf_counter() - started
            if report.inserted != rows:
                raise SystemExit(f"expected {rows} rows imported, got {report}")
            return seconds, report, clock

        unmatched_seconds, _, _ = timed_import(MatchesEverything())
        peak = peak_rss_mb()
        empty_registry(engine)
        register, differing = issuer_register(rows, numbers)
        import_seconds, report, import_cpu = timed_import(register)
        register_peak = peak_rss_mb()
        if report.held != differing:
            raise SystemExit(f"expected {differing} rows held, got {report.held}")
        del register

        # The ceiling: the same rows, as stored, COPYed back into the same (emptied) table
        # with the same indexes and constraints.
        dump = Path(folder) / "qualifications.copy"
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert isinstance(driver, psycopg.Connection)
            with driver.cursor() as cursor, dump.open("wb") as out:
                with cursor.copy("COPY qualifications TO STDOUT") as copy:
                    for chunk in copy:
                        out.write(chunk)
                cursor.execute("TRUNCATE qualifications CASCADE")
            driver.commit()
            copy_cpu = CpuClock(driver.info.backend_pid)
            started = time.perf_counter()
            copy_cpu.start()
            with (
                driver.cursor() as cursor,
                dump.open("rb") as source,
                cursor.copy("COPY qualifications FROM STDIN") as copy,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            copy_cpu.stop()
            driver.commit()
            copy_seconds = time.perf_counter() - started
        finally:
            raw.close()

    import_rate = rows / import_seconds
    unmatched_rate = rows / unmatched_seconds
    copy_rate = rows / copy_seconds
    print(f"registry.import.rows_per_s {import_rate:.0f} rows/s")
    print(f"registry.import.unmatched_rows_per_s {unmatched_rate:.0f} rows/s")
    print(f"registry.import.matching_ratio {import_rate / unmatched_rate:.3f} ratio")
    print(f"registry.import.held {report.held} rows")
    print(f"registry.copy.rows_per_s {copy_rate:.0f} rows/s")
    print(f"registry.import.ceiling_ratio {import_rate / copy_rate:.3f} ratio")
    print(f"registry.import.peak_rss_mb {peak:.1f} MB")
    print(f"registry.import.register_rss_mb {register_peak:.1f} MB")
    per_row = 1e6 / rows
    print(f"registry.import.client_cpu_us {import_cpu.client * per_row:.1f} us")
    print(f"registry.import.server_cpu_us {import_cpu.server * per_row:.1f} us")
    print(f"registry.copy.client_cpu_us {copy_cpu.client * per_row:.1f} us")
    print(f"registry.copy.server_cpu_us {copy_cpu.server * per_row:.1f} us")
    cpu_ratio = (copy_cpu.client + copy_cpu.server) / (import_cpu.client + import_cpu.server)
    print(f"registry.import.cpu_ceiling_ratio {cpu_ratio:.3f} ratio")
    # The import's wall time cannot be less than either half's CPU (one thread each) nor than
    # both halves shared out over the cores; NaN when the backend's CPU cannot be read.
    halves = (import_cpu.client, import_cpu.server)
    best_import_s = max(*halves, sum(halves) / (os.cpu_count() or 1))
    bound = copy_seconds / best_import_s if not math.isnan(import_cpu.server) else math.nan
    print(f"registry.import.overlap_bound_ratio {bound:.3f} ratio")


def empty_registry(engine: object) -> None:
    """Empty what an import wrote, so the next import meets the same empty registry."""
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE linkage_events, change_log, qualifications, persons, imports CASCADE")
        )


if __name__ == "__main__":
    main()
