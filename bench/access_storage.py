"""Benchmark: the bytes a sealed access record and a used challenge take on disk at scale,
on PostgreSQL with the server's own schema and partitions (the inputs of docs/capacity.md).

Set-up, from `server_verify.py`: throw-away databases, the cards, the clinic; then a few
real card checks (`card_check` in process) write real records. Then `STORAGE_ROWS` copies of
the latest real record (its request and answer; other persons, clinics and times of this
month, sealed positions) go into the log's current month, and as many used challenges into
the days ahead, and the growth of every partition (heap, indexes, TOAST) is divided by the
rows. A bench's own few thousand records would weigh partitions' fixed pages in; this does
not. Prints `name value unit` lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from server_verify import (
    _libpq,
    drop_database,
    in_process_cpu_ms,
    prepare,
    throwaway_database,
)

ROWS = int(os.environ.get("STORAGE_ROWS", "200000"))


def total_bytes(connection: psycopg.Connection[Any], table: str) -> int:
    """Every partition's heap, indexes and TOAST (a plain table's own, if not partitioned)."""
    row = connection.execute(
        "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
        " FROM pg_partition_tree(%(t)s::regclass)), pg_total_relation_size(%(t)s::regclass))",
        {"t": table},
    ).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server_url, registry_url = throwaway_database("server"), throwaway_database("registry")
    try:
        world = prepare(work, server_url, registry_url)
        in_process_cpu_ms(world, checks_to_run=60)  # real records, written by the check
        with psycopg.connect(_libpq(server_url), autocommit=True) as db:
            db.execute("VACUUM ANALYZE access_records, used_challenges")
            records, challenges = (
                total_bytes(db, "access_records"),
                total_bytes(db, "used_challenges"),
            )
            sample = db.execute(
                "SELECT length(request), length(answer) FROM access_records"
                " WHERE method = 'pin' ORDER BY id DESC LIMIT 1"
            ).fetchone()
            db.execute(
                """
                INSERT INTO access_records
                    (recorded_at, clinic_code, person_ref, method, request, answer, chain_pos)
                SELECT now() - (g %% 100000) * interval '1 second',
                    (1310000000 + g %% 230000)::text, encode(sha256(g::text::bytea), 'hex'),
                    'pin', r.request, r.answer, 1000000 + g
                FROM generate_series(1, %(n)s) g, (
                    SELECT request, answer FROM access_records WHERE method = 'pin'
                    ORDER BY id DESC LIMIT 1
                ) r
                """,
                {"n": ROWS},
            )
            db.execute(
                """
                INSERT INTO used_challenges (challenge_id, expires_at)
                SELECT substr(encode(sha256(g::text::bytea), 'hex'), 1, 32),
                    now() + interval '5 minutes' + (g %% 3600) * interval '1 second'
                FROM generate_series(1, %(n)s) g
                """,
                {"n": ROWS},
            )
            db.execute("VACUUM ANALYZE access_records, used_challenges")
            records = total_bytes(db, "access_records") - records
            challenges = total_bytes(db, "used_challenges") - challenges
        if sample:
            print(f"storage.sample_request_bytes {sample[0]} bytes")
            print(f"storage.sample_answer_bytes {sample[1]} bytes")
        print(f"storage.scale.rows {ROWS} rows")
        print(f"storage.scale.access_record_bytes {records / ROWS:.0f} bytes/record")
        print(f"storage.scale.used_challenge_bytes {challenges / ROWS:.0f} bytes/challenge")
    finally:
        for url in (server_url, registry_url):
            drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
