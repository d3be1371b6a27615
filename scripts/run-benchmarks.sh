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
