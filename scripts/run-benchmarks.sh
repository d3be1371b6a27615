#!/usr/bin/env bash
# Runs every benchmark in bench/; each prints `name value unit` lines. The figures that
# compare runs are ratios measured side by side within one script (BENCHMARKS.md); the
# machine's load average is printed before and after each script, since other work on the
# same cores moves every absolute figure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmarks run on the test issuer and development keys, which need development asked
# for by name (unset means production).
export ONSHI_ENV=development

load() {
    echo "machine.load_average_1m.$1 $(cut -d' ' -f1 /proc/loadavg) load"
}

echo "machine.cores $(nproc) cores"
for script in bench/*.py; do
    echo "# $script" >&2
    name=$(basename "$script" .py)
    load "before_$name"
    case "$script" in
        # vpcd's port and pcscd are shared by everything on the machine that uses a reader
        bench/card_full_check.py) flock /tmp/pcsc.lock .venv/bin/python "$script" ;;
        *) .venv/bin/python "$script" ;;
    esac
    load "after_$name"
done
# The two-step 一括照会 ran above on DATABASE_URL (SQLite when it is unset or not PostgreSQL);
# it runs once more on PostgreSQL, where the servers run.
if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "# bench/batch_lookup.py on PostgreSQL" >&2
    DATABASE_URL="${BENCH_PG_URL:-postgresql+psycopg://root@127.0.0.1:5432/test}" \
        .venv/bin/python bench/batch_lookup.py
fi
