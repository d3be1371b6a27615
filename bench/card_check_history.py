"""Benchmark: card checks per second now against an earlier revision, side by side in one run.

The aim it measures is a ratio between two revisions of the server (issue 18: the access log's
Merkle tree, witness and receipts keep card-check throughput within 10 % of the hash chain
before them). Both sides run the same load: the earlier revision's own `bench/server_verify.py`
(PIN-mode verifications against PostgreSQL under wrk), once with the earlier revision's
packages on `PYTHONPATH` and once with this checkout's, in the order before, now, now, before
for each round, so a drift of the machine during the run weighs on both sides alike.

`BENCH_BEFORE_REV` names the earlier revision (default: the last commit before the tree);
`BENCH_HISTORY_ROUNDS` the rounds; `BENCH_DURATION_S` each load run's length. The earlier
revision is unpacked with `git archive` into a temporary directory and removed afterwards;
the repository's own state is not touched. The virtual environment is this checkout's: the
dependencies are the same, and the script checks that every package is imported from the
side's own tree before it measures.

Prints `name value unit` lines: each side's median throughput, CPU per check, and the ratios
now/before (`card_check.vs_before.ratio` is the aim: at least 0.90), with the lowest and
highest of the rounds' pair ratios beside it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE_REV = os.environ.get("BENCH_BEFORE_REV", "50143ea")
ROUNDS = int(os.environ.get("BENCH_HISTORY_ROUNDS", "1"))
DURATION_S = os.environ.get("BENCH_DURATION_S", "8")
PACKAGES = ("card_reader", "qualification_server", "clinic_client", "insurer_registry",
            "onshi_kernel")  # fmt: skip
# the figures taken from each run of the load script, by its names
FIGURES = {
    "per_s": "server.verify.per_s",
    "few.per_s": "server.verify.few.per_s",
    "server_cpu_ms": "server.verify.server_cpu_ms",
    "postgres_cpu_ms": "server.verify.postgres_cpu_ms",
    "inprocess_cpu_ms": "server.verify.inprocess_cpu_ms",
}


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True).stdout


def unpack(revision: str, into: Path) -> None:
    """The revision's tracked files under `into`, as committed."""
    archive = git("archive", "--format=tar", revision)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def check_imports(tree: Path, cwd: Path) -> None:
    """Refuse to measure unless each package is imported from `tree` (not, say, from the
    editable install of this checkout), run from `cwd` as the load script is."""
    probe = "; ".join(f"import {p}; print({p}.__file__)" for p in PACKAGES)
    out = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(tree)}, cwd=cwd,
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for package, origin in zip(PACKAGES, out, strict=True):
        if not Path(origin).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"{package} is imported from {origin}, not from {tree}")


def run(load_script: Path, tree: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "BENCH_DURATION_S": DURATION_S,
        "ONSHI_ENV": os.environ.get("ONSHI_ENV", "development"),
    }
    out = subprocess.run(
        [sys.executable, str(load_script)], env=env, cwd=load_script.parent, check=True,
        stdout=subprocess.PIPE, text=True,
    ).stdout  # fmt: skip
    printed = {}  # only the figures compared: other lines may carry values of other shapes
    wanted = set(FIGURES.values())
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in wanted:
            printed[parts[0]] = float(parts[1])
    missing = [name for name in FIGURES.values() if name not in printed]
    if missing:
        raise SystemExit(f"the load script printed no {', '.join(missing)}")
    return {key: printed[name] for key, name in FIGURES.items()}


def main() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        raise SystemExit("this benchmark compares git revisions: run it in a git checkout")
    revision = git("rev-parse", "--short", f"{BEFORE_REV}^{{commit}}").decode().strip()
    head = git("rev-parse", "--short", "HEAD").decode().strip()
    dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        before_tree = work / "before"
        unpack(revision, before_tree)
        load_script = work / "server_verify.py"
        load_script.write_bytes(git("show", f"{revision}:bench/server_verify.py"))
        trees = {"before": before_tree, "now": REPO}
        for tree in trees.values():
            check_imports(tree, work)
        now = f"{head} with uncommitted changes" if dirty else head
        print(f"# before: {revision}, now: {now}", file=sys.stderr)
        results: dict[str, list[dict[str, float]]] = {"before": [], "now": []}
        for round_ in range(ROUNDS):
            for side in ("before", "now", "now", "before"):
                print(f"# round {round_ + 1}: {side}", file=sys.stderr)
                figures = run(load_script, trees[side])
                print(f"# {side}: {figures}", file=sys.stderr)
                results[side].append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side])

    def mean(side: str, key: str) -> float:
        return statistics.fmean(r[key] for r in results[side])

    for side in ("before", "now"):
        print(f"card_check.{side}.per_s {median(side, 'per_s'):.0f} verifications/s")
        print(f"card_check.{side}.few.per_s {median(side, 'few.per_s'):.0f} verifications/s")
        for key in ("server_cpu_ms", "postgres_cpu_ms", "inprocess_cpu_ms"):
            print(f"card_check.{side}.{key} {median(side, key):.2f} ms/verification")
    # within a round the runs are before, now, now, before: the pairs are (1st, 2nd) and
    # (4th, 3rd), so each now run is compared with the before run next to it
    for key, name in (("per_s", "vs_before"), ("few.per_s", "few.vs_before")):
        pairs = [results["now"][i][key] / results["before"][i][key] for i in range(2 * ROUNDS)]
        print(f"card_check.{name}.ratio {mean('now', key) / mean('before', key):.3f} ratio")
        print(f"card_check.{name}.lowest_pair {min(pairs):.3f} ratio")
        print(f"card_check.{name}.highest_pair {max(pairs):.3f} ratio")
    for key in ("server_cpu_ms", "inprocess_cpu_ms"):
        ratio = mean("now", key) / mean("before", key)
        print(f"card_check.{key}.vs_before.ratio {ratio:.3f} ratio")


if __name__ == "__main__":
    main()
