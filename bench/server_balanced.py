"""Benchmark: two qualification-server instances behind HAProxy against one, in one run.

The deployment is `qualification_server.deploy.Cluster`: HAProxy (round robin, health
checks on /readyz) in front of two instances of `qualification-server serve` (one uvicorn
worker each), a PostgreSQL primary for the server's database and a streaming hot standby
the registry is read on. The same cards, clinic and fresh signed challenges as
`server_verify.py` (PIN-mode verifications, only 200 answers count), wrk with
`BENCH_CONNECTIONS` connections for `BENCH_DURATION_S` seconds, three runs in turn:

- `server.balanced.two.*`: through HAProxy, both instances up;
- `server.balanced.one.*`: instance 0 directly, no balancer (the other one idle);
- `server.balanced.one_behind.*`: through HAProxy with instance 1 stopped (what the
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

REQUESTS = int(os.environ.get("BENCH_BALANCED_REQUESTS", "20000"))  # fresh bodies a run


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
                bodies = _signed_bodies(world, settings, REQUESTS + len(cluster.instance_urls))
                for url in cluster.instance_urls:  # each instance answers (and is warm)
                    wait_ready(url, headers, bodies.pop())
                files[run] = work / f"bodies-{run}.jsonl"
                files[run].write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
            lua = work / "verify.lua"
            lua.write_text(WRK_SCRIPT)
            instances = [cluster.instance_pid(n) for n in range(len(cluster.instance_urls))]
            balancer = haproxy_pid(cluster)
            targets = {
                "two": cluster.url,
                "one": cluster.instance_urls[0],
                "one_behind": cluster.url,
            }
            rates = {}
            primary = psycopg.connect(_libpq(cluster.server_database_url), autocommit=True)
            for run in runs:
                if run == "one_behind":
                    cluster.stop_instance(1)
                    deadline = time.monotonic() + 30
                    while cluster.balancer_states().get("s2") == "UP":
                        if time.monotonic() > deadline:
                            raise SystemExit("HAProxy still sends to the stopped instance")
                        time.sleep(0.2)
                pids = [pid for pid in instances if pid is not None]
                instance_cpu, balancer_cpu = cpu_seconds(pids), cpu_seconds([balancer])
                wal_before = wal_lsn(primary)
                verify = run_wrk(
                    lua, f"{targets[run]}/v1/eligibility/card", str(files[run]),
                    headers["Authorization"], connections=CONNECTIONS,
                )  # fmt: skip
                instance_cpu = cpu_seconds(pids) - instance_cpu
                balancer_cpu = cpu_seconds([balancer]) - balancer_cpu
                wal = wal_bytes(primary, wal_before)
                answered = max(verify["requests"], 1)
                rates[run] = (verify["requests"] - verify["errors"]) / DURATION_S
                name = f"server.balanced.{run}"
                print(f"{name}.per_s {rates[run]:.0f} verifications/s")
                print(f"{name}.p50_ms {verify['p50_ms']:.1f} ms")
                print(f"{name}.p99_ms {verify['p99_ms']:.1f} ms")
                print(f"{name}.errors {verify['errors']:.0f} responses")
                per = "ms/verification"
                print(f"{name}.instance_cpu_ms {1000 * instance_cpu / answered:.2f} {per}")
                print(f"{name}.haproxy_cpu_ms {1000 * balancer_cpu / answered:.3f} {per}")
                # the primary is this run's own: all of its WAL is the checks' (and sealing's)
                print(f"{name}.wal_bytes {wal / answered:.0f} bytes/verification")
                if verify["requests"] >= REQUESTS:
                    print(f"# warning: {verify['requests']} requests > {REQUESTS}", file=sys.stderr)
            primary.close()
            print(f"server.balanced.connections {CONNECTIONS} connections")
            print(f"server.balanced.ratio {rates['two'] / rates['one']:.2f} ratio")
            print(f"server.balanced.hop_ratio {rates['one_behind'] / rates['one']:.2f} ratio")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(deployment, ignore_errors=True)


if __name__ == "__main__":
    main()
