"""Benchmark: the access log's sealing with the Merkle tree (issue 18) against the hash chain
it replaced, on PostgreSQL, side by side in one run; and what the tree adds: a checkpoint's
signature, proofs, a full verification.

    DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test .venv/bin/python \\
        bench/access_log.py            (BENCH_RECORDS=100000 by default)

Works in a throw-away database created next to the one DATABASE_URL names, dropped at the
end. The same `BENCH_RECORDS` records (a card check's size) are inserted unsealed into the
server's `access_records` (migrated schema) and into a copy of the chain's table as revision
0008 left it (`bench_chain_records`, its head `bench_chain_head`, with the chain's indexes);
then each is sealed as the housekeeper seals, a batch per transaction: at a backlog
(`SEAL_BATCH` = 5000 a transaction) and in steady state (`STEADY_BATCH` = 200 a transaction,
what 400 checks a second leave every half second). The chain's sealing is kept here (the
code of `access_log.seal` before the tree) so that both run on the same machine and
database. A card check appends one record either way (one INSERT, unchanged): sealing is
what the tree changes; `*_cpu_us` is the CPU this process (the sealer's side, what a server
instance spends) took a record sealed. Prints `name value unit` lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.engine import make_url

from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log import log as access_log
from qualification_server.access_log import tree
from qualification_server.db import make_engine, make_session_factory, migrate

DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
RECORDS = int(os.environ.get("BENCH_RECORDS", 100_000))
SEAL_BATCH = access_log.SEAL_BATCH
STEADY_BATCH = 200
STEADY_RECORDS = min(RECORDS, 20_000)

_CHAIN_DDL = """
CREATE TABLE bench_chain_records (
    id BIGSERIAL PRIMARY KEY, recorded_at TIMESTAMPTZ NOT NULL, clinic_code VARCHAR(10),
    person_ref VARCHAR(64), method VARCHAR(16) NOT NULL, request TEXT NOT NULL,
    answer TEXT NOT NULL, chain_pos BIGINT, prev_hash BYTEA, hash BYTEA);
CREATE INDEX ix_bench_chain_clinic ON bench_chain_records (clinic_code);
CREATE INDEX ix_bench_chain_person ON bench_chain_records (person_ref);
CREATE INDEX ix_bench_chain_unsealed ON bench_chain_records (id) WHERE chain_pos IS NULL;
CREATE UNIQUE INDEX uq_bench_chain_pos ON bench_chain_records (chain_pos)
    WHERE chain_pos IS NOT NULL;
CREATE TABLE bench_chain_head (id INTEGER PRIMARY KEY, pos BIGINT NOT NULL, hash BYTEA NOT NULL);
INSERT INTO bench_chain_head VALUES (1, 0, decode(repeat('00', 32), 'hex'));
"""
_FIELDS = ("id", "recorded_at", "clinic_code", "person_ref", "method", "request", "answer")


def chain_seal(connection: Any, limit: int) -> int:
    """The chain's sealing before the tree (access_log.seal at revision 0008), on its copy."""
    head = connection.execute(
        text("SELECT pos, hash FROM bench_chain_head WHERE id = 1 FOR UPDATE")
    ).one()
    rows = connection.execute(
        text(
            f"SELECT {', '.join(_FIELDS)} FROM bench_chain_records WHERE chain_pos IS NULL "
            "ORDER BY id LIMIT :limit"
        ),
        {"limit": limit},
    ).all()
    pos, prev = head.pos, bytes(head.hash)
    sealed = []
    for row in rows:
        pos += 1
        digest = hashlib.sha256(prev + access_log.canonical(row, pos)).digest()
        sealed.append({"key": row.id, "pos": pos, "prev": prev, "digest": digest})
        prev = digest
    if sealed:
        connection.execute(
            text(
                "UPDATE bench_chain_records SET chain_pos = :pos, prev_hash = :prev, "
                "hash = :digest WHERE id = :key"
            ).bindparams(
                bindparam("key"), bindparam("pos"), bindparam("prev"), bindparam("digest")
            ),
            sealed,
        )
    connection.execute(
        text("UPDATE bench_chain_head SET pos = :pos, hash = :hash WHERE id = 1"),
        {"pos": pos, "hash": prev},
    )
    return len(rows)


def insert_records(engine: Engine, table: str, count: int) -> None:
    """`count` unsealed records of a card check's size, in batches."""
    now = dt.datetime.now(dt.UTC)
    request = json.dumps({"challenge_id": "c" * 32, "certificate_sha256": "f" * 64, "mode": "pin"})
    answer = json.dumps({"status": 1, "insurer": "01130012", "limit_application": False})
    statement = text(
        f"INSERT INTO {table} (recorded_at, clinic_code, person_ref, method, request, answer) "
        "VALUES (:recorded_at, :clinic_code, :person_ref, :method, :request, :answer)"
    )
    for start in range(0, count, 10_000):
        rows = [
            {
                "recorded_at": now + dt.timedelta(microseconds=n),
                "clinic_code": "1310000017",
                "person_ref": hashlib.sha256(f"person {n % 5000}".encode()).hexdigest(),
                "method": "pin",
                "request": request,
                "answer": answer,
            }
            for n in range(start, min(count, start + 10_000))
        ]
        with engine.begin() as connection:
            connection.execute(statement, rows)


def timed_seal(seal_once: Callable[[], int], count: int) -> tuple[float, float]:
    """Records sealed a second, sealing until `count` are sealed, and the CPU this process
    (the server's part of sealing) spent a record, in µs."""
    started, cpu = time.perf_counter(), time.process_time()
    sealed = 0
    while sealed < count:
        done = seal_once()
        if done == 0:
            raise RuntimeError(f"only {sealed} of {count} sealed")
        sealed += done
    return count / (time.perf_counter() - started), 1e6 * (time.process_time() - cpu) / count


def run(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(_CHAIN_DDL)
    sessions = make_session_factory(engine)

    def tree_seal(limit: int) -> Callable[[], int]:
        def once() -> int:
            with sessions() as session, session.begin():
                return access_log.seal(session, limit)

        return once

    def chain(limit: int) -> Callable[[], int]:
        def once() -> int:
            with engine.begin() as connection:
                return chain_seal(connection, limit)

        return once

    results: dict[str, tuple[float, float]] = {}
    for label, batch, count in (
        ("backlog", SEAL_BATCH, RECORDS),
        ("steady", STEADY_BATCH, STEADY_RECORDS),
    ):
        insert_records(engine, "access_records", count)
        insert_records(engine, "bench_chain_records", count)
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE"
            )
        results[f"chain.{label}"] = timed_seal(chain(batch), count)
        results[f"tree.{label}"] = timed_seal(tree_seal(batch), count)
    total = RECORDS + STEADY_RECORDS
    for label in ("backlog", "steady"):
        (chain_rate, chain_cpu), (tree_rate, tree_cpu) = (
            results[f"chain.{label}"],
            results[f"tree.{label}"],
        )
        print(f"access_log.seal.{label}.chain_records_per_s {chain_rate:.0f} records/s")
        print(f"access_log.seal.{label}.tree_records_per_s {tree_rate:.0f} records/s")
        print(f"access_log.seal.{label}.tree_over_chain {tree_rate / chain_rate:.3f} ratio")
        print(f"access_log.seal.{label}.chain_cpu_us {chain_cpu:.1f} us/record")
        print(f"access_log.seal.{label}.tree_cpu_us {tree_cpu:.1f} us/record")

    with sessions() as session:
        started = time.perf_counter()
        recomputed = access_log.recompute(session)
        verify_s = time.perf_counter() - started
        assert recomputed.broken is None
        assert recomputed.size == total
        head = tree.head(session)
        rounds = 200
        started = time.perf_counter()
        for n in range(rounds):
            tree.inclusion(session, (n * 7919) % total, total)
        inclusion_ms = 1e3 * (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for n in range(rounds):
            tree.consistency(session, 1 + (n * 7919) % (total - 1), total)
        consistency_ms = 1e3 * (time.perf_counter() - started) / rounds
        nodes = session.execute(text("SELECT count(*) FROM access_tree_nodes")).scalar_one()
        node_bytes = session.execute(
            text("SELECT pg_total_relation_size('access_tree_nodes')")
        ).scalar_one()
    signer = Ed25519Signer.generate("bench.onshi/access-log")
    checkpoint = Checkpoint("bench.onshi/access-log", head.size, head.root)
    started = time.perf_counter()
    for _ in range(rounds):
        note = sign_checkpoint(checkpoint, signer)
        open_checkpoint(note, signer.verifier())
    sign_ms = 1e3 * (time.perf_counter() - started) / rounds
    assert head.root == recomputed.root
    assert recomputed.root != merkle.EMPTY_ROOT
    print(f"access_log.verify.records_per_s {total / verify_s:.0f} records/s")
    print(f"access_log.proof.inclusion_ms {inclusion_ms:.2f} ms")
    print(f"access_log.proof.consistency_ms {consistency_ms:.2f} ms")
    print(f"access_log.checkpoint.sign_and_open_ms {sign_ms:.3f} ms")
    print(f"access_log.tree.nodes_per_record {nodes / total:.3f} rows")
    print(f"access_log.tree.node_bytes_per_record {node_bytes / total:.0f} bytes")


def main() -> None:
    base = make_url(os.environ.get("DATABASE_URL", DEFAULT_URL))
    if base.get_backend_name() != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL in DATABASE_URL")
    name = f"onshi_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(
        base.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        run(engine)
    finally:
        engine.dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
