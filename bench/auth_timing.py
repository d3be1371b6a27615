"""Benchmark: does a refusal's time tell a known id from an unknown one?

In process, without sockets: the qualification server's `ClinicAuthenticator.authenticate`
(what a request that is not in its memory runs) and the registry's `authenticate` (what
every registry request runs), each called `ROUNDS` times with a known clinic code or
credential id and a wrong secret, and as often with an id nobody holds, the two interleaved
so that the machine's drift falls on both alike. Prints `name value unit` lines: the median
of each path, their difference (known minus unknown) in µs and as a fraction of the
unknown path's median.

    .venv/bin/python bench/auth_timing.py
    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test .venv/bin/python bench/auth_timing.py

On SQLite by default, in a temporary folder; with a PostgreSQL DATABASE_URL, in throw-away
databases created next to the one it names and dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from insurer_registry import db as registry_db
from insurer_registry.errors import AuthenticationFailed
from insurer_registry.insurers.authentication import authenticate
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import add_insurer, issue_credential
from onshi_kernel.numbers import InsurerNumber
from qualification_server import db as server_db
from qualification_server.clinics.service import ClinicAuthenticator, register_clinic
from qualification_server.errors import QualificationError

ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "5000"))
WARMUP = 300


@contextmanager
def database(folder: Path, name: str) -> Iterator[str]:
    """A fresh database: a SQLite file, or a throw-away PostgreSQL database."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        yield f"sqlite:///{folder / name}.db"
        return
    base = make_url(registry_db.with_psycopg3(configured))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    database_name = f"onshi_bench_auth_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database_name}"')
    try:
        yield base.set(database=database_name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')


def refusal_ns(attempt: Callable[[], object], refused: type[Exception]) -> int:
    started = time.perf_counter_ns()
    try:
        attempt()
    except refused:
        return time.perf_counter_ns() - started
    raise AssertionError("the attempt was not refused")


def compare(
    name: str, known: Callable[[], object], unknown: Callable[[], object], refused: type[Exception]
) -> None:
    """Time both paths interleaved and print their medians and difference."""
    times: dict[str, list[int]] = {"known": [], "unknown": []}
    for round_ in range(WARMUP + ROUNDS):
        # Alternate which goes first, so neither always runs on a warmer cache.
        order = (("known", known), ("unknown", unknown))
        for path, attempt in order if round_ % 2 else order[::-1]:
            elapsed = refusal_ns(attempt, refused)
            if round_ >= WARMUP:
                times[path].append(elapsed)
    known_us = statistics.median(times["known"]) / 1000
    unknown_us = statistics.median(times["unknown"]) / 1000
    print(f"{name}.known_wrong_secret_us {known_us:.1f} us")
    print(f"{name}.unknown_id_us {unknown_us:.1f} us")
    print(f"{name}.difference_us {known_us - unknown_us:.1f} us")
    print(f"{name}.difference_fraction {(known_us - unknown_us) / unknown_us:.4f} ratio")


def clinics(url: str) -> None:
    engine = server_db.make_engine(url)
    server_db.migrate(engine)
    sessions = server_db.make_session_factory(engine)
    with server_db.transaction(sessions) as session:
        token = register_clinic(
            session=session, code="1310000017", name="bench", now=dt.datetime.now(dt.UTC)
        )
    wrong = "A" * len(token.split(".", 1)[1])
    authenticator = ClinicAuthenticator(sessions)  # a refusal is never remembered
    compare(
        "auth.clinic",
        lambda: authenticator.authenticate(f"1310000017.{wrong}"),
        lambda: authenticator.authenticate(f"1310000025.{wrong}"),
        QualificationError,
    )
    engine.dispose()


def registry(url: str) -> None:
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    sessions = registry_db.make_session_factory(engine)
    with registry_db.transaction(sessions) as session:
        insurer = add_insurer(session=session, number=InsurerNumber("06130017"), name="bench")
        issued = issue_credential(
            session=session, kind=CredentialKind.INSURER, label="bench", insurer=insurer
        )
    wrong = "A" * len(issued.token.split(".", 1)[1])

    def attempt(public_id: str) -> Callable[[], object]:
        def call() -> object:
            with sessions() as session:
                token = f"ins_{public_id}.{wrong}"
                return authenticate(session=session, token=token, kind=CredentialKind.INSURER)

        return call

    compare(
        "auth.registry",
        attempt(issued.public_id),
        attempt("0" * 12),
        AuthenticationFailed,
    )
    engine.dispose()


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    with database(folder, "server") as url:
        clinics(url)
    with database(folder, "registry") as url:
        registry(url)


if __name__ == "__main__":
    main()
