#!/usr/bin/env bash
# Runs the whole suite on SQLite, then the database tests again on PostgreSQL.
# Under CI=true a PostgreSQL that cannot be reached is a failure, not a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# The independent FHIR validator's Node packages (tests/fhir_validator), at the versions of its
# package-lock.json; reinstalled only when the lock is newer than what is installed.
FHIR_VALIDATOR=tests/fhir_validator
if [ ! "$FHIR_VALIDATOR/node_modules/.package-lock.json" -nt "$FHIR_VALIDATOR/package-lock.json" ]; then
    npm ci --prefix "$FHIR_VALIDATOR" --no-audit --no-fund --loglevel=error || exit 1
fi

$BIN/pytest -q -p no:cacheprovider --durations=10
status=$?
[ $status -eq 0 ] || exit $status

pg_url="${DATABASE_URL:-${PG_URL:-}}"
if [ -z "$pg_url" ]; then
    echo "DATABASE_URL/PG_URL not set: PostgreSQL pass not run"; exit 0
fi
if ! $BIN/python -c "import sqlalchemy as sa, sys; sa.create_engine(sys.argv[1]).connect().close()" "$pg_url" 2>/dev/null; then
    if [ "${CI:-}" = "true" ]; then echo "PostgreSQL at $pg_url is not reachable" >&2; exit 1; fi
    echo "PostgreSQL at $pg_url is not reachable: PostgreSQL pass not run"; exit 0
fi
echo "--- database tests again on PostgreSQL ---"
DATABASE_URL="$pg_url" $BIN/pytest -q -p no:cacheprovider --durations=10 -m db
status=$?
# 5 = nothing collected: no database tests exist yet.
[ $status -eq 5 ] && exit 0
exit $status
