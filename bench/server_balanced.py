"""Benchmark: two qualification-server instances behind HAProxy against one, in one run.

The deployment is `qualification_server.deploy.Cluster`: HAProxy (round robin, health
checks on /readyz) in front of two instances of `qualification-server serve` (one uvicorn
worker each), a PostgreSQL primary for the server's database and a streaming hot standby
the registry is read on. The same cards, clinic and fresh signed challenges as
`server_verify.py` (PIN-mode verifications, only 200 answers count), wrk with
`BENCH_CONNECTIONS` connections, three settings in turn, three rounds of a third of
`BENCH_DURATION_S` each (a change in the machine's other load falls on all three alike):

- `server.balanced.two.*`: through HAProxy, both instances up;
- `server.balanced.one.*`: instance 0 directly, no balancer (the other one idle);
- `server.balanced.one_behind.*`: through HAProxy with instance 1 in maintenance (what the
  balancer's hop costs one instance).

`server.balanced.ratio` is two over one. On the project's two-core machine the two
instances, HAProxy, both PostgreSQL servers and wrk share the same two cores: the ratio
shows what the balancer and a second instance cost, not how the service scales (that needs
cores per instance; docs/capacity.md). Also printed: each run's CPU a verification of the
instances and of HAProxy. Prints `name value unit` lines.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from server_verify import (
    CONNECTIONS,
    DURATION_S,
    WRK_SCRIPT,
    _libpq,
    _settings,
    _signed_bodies,
    cpu_seconds,
    issue_cards,
    populate,
    run_wrk,
)

from qualification_server.deploy.cluster import STATE_FILE, Cluster

REQUESTS = int(os.environ.get("BENCH_BALANCED_REQUESTS", "20000"))  # fresh bodies a setting
ROUNDS = 3  # the three settings in turn, this many times
SLICE_S = max(1, DURATION_S // ROUNDS)  # seconds of one setting's turn
TOTALS = ("instance_cpu", "balancer_cpu", "wal", "requests", "errors", "p99_ms")


def set_state(cluster: Cluster, server: str, state: str) -> None:
    """Put one of HAProxy's servers in maintenance or back ("maint", "ready"), by its
    runtime socket: at once, without stopping the instance."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(cluster.stats_socket))
        client.sendall(f"set server instances/{server} state {state}\n".encode())
        answer = client.recv(4096).decode().strip()
    if answer:
        raise SystemExit(f"HAProxy refused the state {state} for {server}: {answer}")


def wait_ready(url: str, headers: dict[str, str], body: dict[str, object]) -> None:
    """Until one verification through `url` is answered (the standby has the registry)."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            answer = client.post("/v1/eligibility/card", json=body, headers=headers)
            if answer.status_code == 200:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"no verification answered at {url}: {answer.text}")
            time.sleep(0.5)


def wal_lsn(connection: psycopg.Connection[tuple[object, ...]]) -> str:
    row = connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    return str(row[0]) if row else "0/0"


def wal_bytes(connection: psycopg.Connection[tuple[object, ...]], since: str) -> float:
    """WAL the primary wrote since `since` (what the standby receives, too)."""
    row = connection.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [since]
    ).fetchone()
    return float(row[0]) if row else 0.0  # type: ignore[arg-type]


def haproxy_pid(cluster: Cluster) -> int:
    state = json.loads((cluster.root / STATE_FILE).read_text(encoding="utf-8"))
    return int(state["pids"]["haproxy"])


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing (scripts/install-system-packages.sh)")
    work = Path(tempfile.mkdtemp(prefix="bench-balanced-"))
    # PostgreSQL runs as its own user when this runs as root: its folders' parent must let
    # it through (the issuer's keys stay in `work`, private)
    deployment = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    deployment.chmod(0o755)
    try:
        cards = issue_cards(work)
        cluster = Cluster(deployment / "cluster", instances=2, workers=1, env=cards.trust_env())
        with cluster:
            world = populate(cards, cluster.server_database_url, cluster.registry_primary_url)
            settings = _settings(world)
            headers = {"Authorization": f"Bearer {world.token}"}
            runs = ("two", "one", "one_behind")
            files = {}
            for run in runs:
                for turn in range(ROUNDS):
                    bodies = _signed_bodies(
                        world, settings, REQUESTS // ROUNDS + len(cluster.instance_urls)
                    )
                    for url in cluster.instance_urls:  # each instance answers (and is warm)
                        wait_ready(url, headers, bodies.pop())
                    files[run, turn] = work / f"bodies-{run}-{turn}.jsonl"
                    files[run, turn].write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
            lua = work / "verify.lua"
            lua.write_text(WRK_SCRIPT)
            pids = [pid for n in range(2) if (pid := cluster.instance_pid(n)) is not None]
            balancer = haproxy_pid(cluster)
            targets = {
                "two": cluster.url,
                "one": cluster.instance_urls[0],
                "one_behind": cluster.url,
            }
            totals = {run: dict.fromkeys(TOTALS, 0.0) for run in runs}
            primary = psycopg.connect(_libpq(cluster.server_database_url), autocommit=True)
            # the three in turn, ROUNDS times, so that a change in the machine's other load
            # falls on all three alike
            for turn in range(ROUNDS):
                for run in runs:
                    set_state(cluster, "s2", "maint" if run == "one_behind" else "ready")
                    instance_cpu, balancer_cpu = cpu_seconds(pids), cpu_seconds([balancer])
                    wal_before = wal_lsn(primary)
                    verify = run_wrk(
                        lua, f"{targets[run]}/v1/eligibility/card", str(files[run, turn]),
                        headers["Authorization"], connections=CONNECTIONS, duration_s=SLICE_S,
                    )  # fmt: skip
                    total = totals[run]
                    total["instance_cpu"] += cpu_seconds(pids) - instance_cpu
                    total["balancer_cpu"] += cpu_seconds([balancer]) - balancer_cpu
                    total["wal"] += wal_bytes(primary, wal_before)
                    total["requests"] += verify["requests"]
                    total["errors"] += verify["errors"]
                    total["p99_ms"] = max(total["p99_ms"], verify["p99_ms"])
                    if verify["requests"] >= REQUESTS // ROUNDS:
                        print(f"# warning: {run} ran out of fresh bodies", file=sys.stderr)
            set_state(cluster, "s2", "ready")
            primary.close()
            rates = {}
            per = "ms/verification"
            for run, total in totals.items():
                answered = max(total["requests"], 1)
                rates[run] = (total["requests"] - total["errors"]) / (SLICE_S * ROUNDS)
                name = f"server.balanced.{run}"
                print(f"{name}.per_s {rates[run]:.0f} verifications/s")
                print(f"{name}.p99_ms_max {total['p99_ms']:.1f} ms")
                print(f"{name}.errors {total['errors']:.0f} responses")
                print(f"{name}.instance_cpu_ms {1000 * total['instance_cpu'] / answered:.2f} {per}")
                print(f"{name}.haproxy_cpu_ms {1000 * total['balancer_cpu'] / answered:.3f} {per}")
                # the primary is this run's own: all of its WAL is the checks' (and sealing's)
                print(f"{name}.wal_bytes {total['wal'] / answered:.0f} bytes/verification")
            print(f"server.balanced.connections {CONNECTIONS} connections")
            print(f"server.balanced.ratio {rates['two'] / rates['one']:.2f} ratio")
            print(f"server.balanced.hop_ratio {rates['one_behind'] / rates['one']:.2f} ratio")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(deployment, ignore_errors=True)


if __name__ == "__main__":
    main()
