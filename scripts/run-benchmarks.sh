#!/usr/bin/env bash
# Runs every benchmark in bench/; each prints `name value unit` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmarks run on the test issuer and development keys, which need development asked
# for by name (unset means production).
export ONSHI_ENV=development
for script in bench/*.py; do
    echo "# $script" >&2
    .venv/bin/python "$script"
done
# The two-step 一括照会 ran above on DATABASE_URL (SQLite when it is unset or not PostgreSQL);
# it runs once more on PostgreSQL, where the servers run.
if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "# bench/batch_lookup.py on PostgreSQL" >&2
    DATABASE_URL="${BENCH_PG_URL:-postgresql+psycopg://root@127.0.0.1:5432/test}" \
        .venv/bin/python bench/batch_lookup.py
fi
