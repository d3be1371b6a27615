#!/usr/bin/env bash
# Runs every benchmark in bench/; each prints `name value unit` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in bench/*.py; do
    echo "# $script" >&2
    .venv/bin/python "$script"
done
