"""Soak: many clinics checking cards at once, for several minutes, against the qualification
server on PostgreSQL, to show that it keeps answering without errors, in flat memory and
with a steady p99.

Not run by `make bench` (it takes minutes; `scripts/run-benchmarks.sh` runs every script in
bench/, and this one steps aside when that script is its parent). Run it explicitly from the
repository root:

    .venv/bin/python bench/soak.py                  # 50 clinics, 5 minutes, 32 connections
    SOAK_MINUTES=1 .venv/bin/python bench/soak.py   # a quick one

Set-up, from `server_verify.py`: throw-away PostgreSQL databases for the server and the
registry, `BENCH_CARDS` test cards issued and registered, `qualification-server serve
--workers BENCH_WORKERS`; then `SOAK_CLINICS` clinics, each with its own token. Before the
load starts every request body is made, in a pool of processes: a challenge issued for the
clinic that sends it (valid for the whole run; the server checks only the expiry the
challenge carries) and signed with a card's key. The soak is `SOAK_MINUTES` cut into slices
of `SOAK_SLICE_S` seconds, each one run of wrk (a separate process) with `SOAK_CONNECTIONS`
connections and a file of its own, `SOAK_MAX_RATE` bodies a second of slice, each line
`<Authorization>\\t<JSON body>`: every request carries its own clinic's token and no body is
sent twice.

Per slice (`soak.slice<N>.*`): verifications answered 200 a second, p50, p99, errors (any
answer but 200, and socket errors), the RSS of the server's processes (supervisor and
workers, VmRSS from /proc), the private memory (RssAnon: their RSS would count the shared
buffers again in each) of the PostgreSQL backends serving the server, the CPU a
verification took in the server and in PostgreSQL, and the share of the machine's CPU taken
by other work (anything but the server, wrk and PostgreSQL, other databases' backends
counting as other work). The first slice is the warm-up: the summary's `first`, `last` and
`max` are over the slices after it. At the end, once the server has stopped (sealing what
is left), the access records are counted: there must be one for each 200 answer, plus one
for each request still in flight when a slice's wrk stopped (the server answered and
recorded it, wrk had stopped reading), none for a refusal, one used challenge for each body
sent, and the hash chain must verify. Prints `name value unit` lines; progress on stderr.

Each access record leaves a dead row behind (see `Vacuum`), which a deployment's autovacuum
clears. Where the cluster runs without it (this machine's PostgreSQL has `autovacuum = off`
in conf.d/90-ci.conf), the soak stands in for it with a `VACUUM (ANALYZE)` of the server's
database every `SOAK_VACUUM_S` seconds (60, autovacuum's own default interval) during the
load; `SOAK_VACUUM_S=0` never does.

Exits 1 if there was any error, if the records do not match, if a worker was restarted, if
the bodies ran out (raise `SOAK_MAX_RATE`), if the server's RSS grew by more than
`SOAK_MAX_RSS_GROWTH_PCT` (20) from the second slice to the last, or its p99 by more than
`SOAK_MAX_P99_GROWTH_PCT` (50).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from server_verify import (
    CLINIC,
    WORKERS,
    World,
    _settings,
    children,
    cpu_seconds,
    drop_database,
    postgres_pids,
    prepare,
    throwaway_database,
)
from sqlalchemy import Engine, create_engine, func, make_url, select, text

from qualification_server.access_log import log as access_log
from qualification_server.cards.challenges import Purpose, issue_challenge
from qualification_server.clinics.service import register_clinic
from qualification_server.db import make_engine, make_session_factory, transaction
from qualification_server.models import AccessRecord, UsedChallenge

CLINICS = int(os.environ.get("SOAK_CLINICS", "50"))
MINUTES = float(os.environ.get("SOAK_MINUTES", "5"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "32"))
SLICE_S = int(os.environ.get("SOAK_SLICE_S", "30"))
# bodies made for each second of a slice: above what the server can answer, so none run out
MAX_RATE = int(os.environ.get("SOAK_MAX_RATE", "1300"))
MAX_RSS_GROWTH_PCT = float(os.environ.get("SOAK_MAX_RSS_GROWTH_PCT", "20"))
# p99 steady: the last slice's may exceed the second's by at most this
MAX_P99_GROWTH_PCT = float(os.environ.get("SOAK_MAX_P99_GROWTH_PCT", "50"))
# VACUUM (ANALYZE) the server's database this often during the load if the cluster's
# autovacuum is off, as autovacuum would; 0: never
VACUUM_S = float(os.environ.get("SOAK_VACUUM_S", "60"))
PORT = int(os.environ.get("SOAK_PORT", "8392"))  # not server_verify's, so both can run
APPLICATION_NAME = "onshi-soak"  # this script's own connections, told apart from the server's
# One thread of wrk: threads cannot share bodies, and the server's workers take uneven shares
# of the connections (21 and 11 of 32, say), so with a fixed share each, one thread could run
# out of bodies while the other had used half of its own.
WRK_THREADS = 1

WRK_SCRIPT = r"""
-- Each line of the bodies file (args[1]): "<Authorization header>\t<JSON body>". Of wrk's
-- args[2] threads, thread k keeps lines k, k + n, ...: no body is sent twice.
local auths, bodies = {}, {}
local headers = {["Content-Type"] = "application/json"}
local threads = {}
local peeked = false
statuses, sent, ran_out = {}, 0, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local stride, n = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if n % stride == tid - 1 then
      local tab = line:find("\t", 1, true)
      auths[#auths + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    n = n + 1
  end
  -- wrk calls request() once on its first thread before the run, only to check that the
  -- request parses (script_verify_request in wrk.c): that call must not use up a body
  peeked = tid ~= 1
end

function request()
  if not peeked then
    peeked = true
    headers["Authorization"] = auths[1]
    return wrk.format("POST", nil, headers, bodies[1])
  end
  if sent >= #bodies then  -- out of bodies: this thread stops (the run fails)
    ran_out = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")  -- written, never read
  end
  sent = sent + 1
  headers["Authorization"] = auths[sent]
  return wrk.format("POST", nil, headers, bodies[sent])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total_sent, total_ran_out = 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_ran_out = total_ran_out + thread:get("ran_out")
    for status, n in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %d %d\n", status, n))
    end
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %f %f %f\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, total_sent, total_ran_out,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


@dataclass(frozen=True)
class Signer:
    """What a body-making process needs: the server's challenge key, the clinics, the cards."""

    challenge_key: bytes
    ttl_s: int
    clinics: list[tuple[str, str]]  # (clinic code, token)
    cards: list[tuple[str, bytes]]  # (certificate in base64, private key PEM)


_signer: Signer | None = None
_keys: list[rsa.RSAPrivateKey] = []


def _start_signer(signer: Signer) -> None:
    global _signer
    _signer = signer
    for _, pem in signer.cards:
        key = load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        _keys.append(key)


def _write_bodies(job: tuple[Path, int, int]) -> None:
    """Bodies `first` .. `first + count - 1` into `path`. Consecutive bodies come from
    different clinics, and each clinic in turn presents every card."""
    path, first, count = job
    assert _signer is not None
    clinics, cards = _signer.clinics, _signer.cards
    lines = []
    for i in range(first, first + count):
        code, token = clinics[i % len(clinics)]
        card = (i // len(clinics)) % len(cards)
        issued = issue_challenge(
            key=_signer.challenge_key, purpose=Purpose.CHECK, client=code,
            now=dt.datetime.now(dt.UTC), ttl_s=_signer.ttl_s,
        )  # fmt: skip
        signature = _keys[card].sign(issued.token, padding.PKCS1v15(), hashes.SHA256())
        body = {
            "challenge": base64.b64encode(issued.token).decode(),
            "certificate": cards[card][0],
            "proof": {"method": "pin", "signature": base64.b64encode(signature).decode()},
        }
        lines.append(f"Bearer {token}\t{json.dumps(body)}\n")
    path.write_text("".join(lines))


def register_clinics(world: World, server_url: str) -> list[tuple[str, str]]:
    """`prepare`'s clinic and `CLINICS - 1` more (prefectures in turn), with their tokens."""
    clinics = [(CLINIC, world.token)]
    engine = make_engine(server_url)
    now = dt.datetime.now(dt.UTC)
    with transaction(make_session_factory(engine)) as session:
        for i in range(1, CLINICS):
            code = f"{1 + i % 47:02d}1{i:07d}"  # prefecture, 1 (医科), 7 digits
            token = register_clinic(session=session, code=code, name=f"soak {i}", now=now)
            clinics.append((code, token))
    engine.dispose()
    return clinics


def make_bodies(world: World, clinics: list[tuple[str, str]], files: list[Path]) -> None:
    """`MAX_RATE * SLICE_S` fresh signed bodies into each file, in a process per core."""
    per_file = MAX_RATE * SLICE_S
    signer = Signer(
        challenge_key=_settings(world).challenge_key_bytes,
        ttl_s=3600 + len(files) * SLICE_S,  # made now, sent up to the run's end
        clinics=clinics,
        cards=[
            (
                base64.b64encode(der).decode(),
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            for der, key in world.cards
        ],
    )
    jobs = [(path, n * per_file, per_file) for n, path in enumerate(files)]
    with multiprocessing.Pool(os.cpu_count(), _start_signer, (signer,)) as pool:
        pool.map(_write_bodies, jobs, chunksize=1)


@dataclass(frozen=True)
class Slice:
    """One wrk run's figures, and the machine's state at its end."""

    seconds: float
    sent: int  # bodies written to a socket
    ok: int  # 200 answers
    errors: int  # any other answer, and socket errors
    unread: int  # sent, but in flight when wrk stopped: answered, never read
    ran_out: int  # threads of wrk that ran out of bodies
    p50_ms: float
    p99_ms: float
    max_ms: float
    connections_by_worker: tuple[int, ...]  # a few seconds into the slice
    started: str = ""  # local time
    rss_mb: float = 0.0
    pg_private_mb: float = 0.0
    others_cpu_pct: float = 0.0
    server_cpu_ms: float = 0.0  # CPU a verification
    pg_cpu_ms: float = 0.0
    server_pids: frozenset[int] = frozenset()


def run_wrk(lua: Path, url: str, bodies: Path, workers: list[int]) -> Slice:
    """One run of wrk; a few seconds in, how the connections are spread over the workers."""
    with subprocess.Popen(
        ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{SLICE_S}s", "--timeout", "5s",
         "-s", str(lua), url, "--", str(bodies), str(WRK_THREADS)],
        stdout=subprocess.PIPE, text=True,
    ) as wrk:  # fmt: skip
        time.sleep(min(5, SLICE_S / 2))
        spread = connections_by_process(workers)
        out, _ = wrk.communicate()
    if wrk.returncode != 0:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{out}")
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    responses, duration_us, socket_errors, sent, ran_out = (int(g) for g in match.groups()[:5])
    p50, p99, latency_max = (float(g) for g in match.groups()[5:])
    by_status: dict[int, int] = {}
    for status, n in re.findall(r"STATUS (\d+) (\d+)", out):
        by_status[int(status)] = by_status.get(int(status), 0) + int(n)
    for status, n in sorted(by_status.items()):
        if status != 200:
            print(f"# HTTP {status}: {n}", file=sys.stderr)
    ok = by_status.get(200, 0)
    return Slice(
        seconds=duration_us / 1e6,
        sent=sent,
        ok=ok,
        errors=responses - ok + socket_errors,
        unread=sent - responses - socket_errors,
        ran_out=ran_out,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=latency_max,
        connections_by_worker=spread,
    )


def run_slice(
    lua: Path, url: str, bodies: Path, server: int, admin: Engine, databases: list[str]
) -> Slice:
    """One slice of load, with the memory at its end and the CPU it took: the server's,
    PostgreSQL's and, from the whole machine's, what others took."""
    ours = cpu_by_process(children(server) + postgres_processes(admin, databases)[1])
    wall, busy, wrk_cpu = time.monotonic(), busy_cpu_seconds(), children_cpu_seconds()
    started = dt.datetime.now().astimezone().strftime("%H:%M:%S")
    measured = run_wrk(lua, url, bodies, workers_of(server))
    wall, busy = time.monotonic() - wall, busy_cpu_seconds() - busy
    wrk_cpu = children_cpu_seconds() - wrk_cpu
    server_pids = children(server)
    backends, pg_pids = postgres_processes(admin, databases)
    server_cpu, pg_cpu = (
        sum(t - ours.get(p, 0.0) for p, t in cpu_by_process(pids).items())
        for pids in (server_pids, pg_pids)
    )
    others = max(0.0, busy - server_cpu - pg_cpu - wrk_cpu) / (os.cpu_count() or 1) / wall
    return dataclasses.replace(
        measured,
        started=started,
        rss_mb=memory_mb(server_pids),
        pg_private_mb=memory_mb(backends, "RssAnon"),
        others_cpu_pct=100 * others,
        server_cpu_ms=1000 * server_cpu / max(1, measured.sent),
        pg_cpu_ms=1000 * pg_cpu / max(1, measured.sent),
        server_pids=frozenset(server_pids),
    )


def workers_of(server: int) -> list[int]:
    """The server's worker processes (spawned by multiprocessing; not its resource tracker)."""
    workers = []
    for pid in children(server)[1:]:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except FileNotFoundError:
            continue
    return workers


def connections_by_process(pids: list[int]) -> tuple[int, ...]:
    """How many established TCP connections on `PORT` each of these processes holds (ss)."""
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{PORT} )"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    holders = re.findall(r"pid=(\d+)", listing)
    return tuple(sorted((holders.count(str(pid)) for pid in pids), reverse=True))


def memory_mb(pids: list[int], field: str = "VmRSS") -> float:
    """Sum of one memory field of these processes' /proc status (VmRSS, or RssAnon: the
    private part, without the shared memory a PostgreSQL backend maps)."""
    total_kb = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        total_kb += int(found[1]) if found else 0
    return total_kb / 1024


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU of this process's reaped children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_processes(admin: Engine, databases: list[str]) -> tuple[list[int], list[int]]:
    """PostgreSQL's processes working for the soak: the backends serving the server (not this
    script's), and every PostgreSQL process but the backends of other databases (other
    people's work): the soak's backends, this script's VACUUM, the cluster's background
    processes (WAL writer, checkpointer, ...)."""
    with admin.connect() as conn:
        rows = conn.execute(
            text("SELECT pid, datname, application_name FROM pg_stat_activity")
        ).all()
    backends = [
        int(pid) for pid, name, app in rows if name in databases and app != APPLICATION_NAME
    ]
    others = {int(pid) for pid, name, _ in rows if name is not None and name not in databases}
    return backends, [pid for pid in postgres_pids() if pid not in others]


def cpu_by_process(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


class Vacuum:
    """VACUUM (ANALYZE) of the server's database every `interval_s`, in a thread, while the
    load runs: what autovacuum would do. Sealing a record updates it, and the update is not
    HOT (`chain_pos` is indexed), so each record leaves a dead row and its index entries
    behind until a VACUUM. The server does not depend on it: the sealer finds unsealed
    records through a partial index whose scans skip the dead entries (see `AccessRecord`);
    before that index, a bitmap scan visited every dead row, ~150 ms a scan with 200,000 of
    them, and PostgreSQL's CPU a verification doubled within 5 minutes without VACUUM."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vacuum", daemon=True)
        self.runs = 0
        self.longest_s = 0.0

    def __enter__(self) -> Vacuum:
        if self._interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            started = time.monotonic()
            with self._engine.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE)"))
            self.runs += 1
            self.longest_s = max(self.longest_s, time.monotonic() - started)


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    """Until /readyz answers 200 and every worker has started."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            try:
                ready = client.get("/readyz").status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and len(workers_of(server.pid)) == WORKERS:
                return
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)


def soak(world: World, clinics: list[tuple[str, str]], work: Path, databases: list[str]) -> bool:
    """Run the slices against a server started here; print the figures; True if it passed."""
    slices = max(1, round(MINUTES * 60 / SLICE_S))
    files = [work / f"bodies-{n}.tsv" for n in range(1, slices + 1)]
    started = time.monotonic()
    make_bodies(world, clinics, files)
    print(
        f"# {slices * MAX_RATE * SLICE_S} bodies for {slices} slices of {SLICE_S} s, "
        f"{len(clinics)} clinics, {len(world.cards)} cards: {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    lua = work / "soak.lua"
    lua.write_text(WRK_SCRIPT)
    script = shutil.which("qualification-server", path=str(Path(sys.executable).parent))
    assert script is not None
    server_url = world.env["DATABASE_URL"]
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [script, "serve", "--port", str(PORT), "--workers", str(WORKERS), "--no-migrate"],
            env=world.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    admin = create_engine(server_url, connect_args={"application_name": APPLICATION_NAME})
    try:
        url = f"http://127.0.0.1:{PORT}"
        wait_ready(url, server)
        print(f"soak.rss_mb.idle {memory_mb(children(server.pid)):.1f} MB")
        results: list[Slice] = []
        with admin.connect() as conn:
            autovacuum = conn.scalar(text("SHOW autovacuum")) == "on"
        with Vacuum(admin, 0 if autovacuum else VACUUM_S) as vacuum:
            for n, bodies in enumerate(files, start=1):
                measured = run_slice(
                    lua, f"{url}/v1/eligibility/card", bodies, server.pid, admin, databases
                )
                bodies.unlink()  # ~80 MB a slice
                results.append(measured)
                print_slice(n, measured)
                if measured.ok == 0:
                    print("# no verification answered: stopping", file=sys.stderr)
                    break
        time.sleep(1)  # the last slice's requests in flight are answered and recorded
        with admin.connect() as conn:
            backlog = conn.scalar(
                select(func.count())
                .select_from(AccessRecord)
                .where(AccessRecord.chain_pos.is_(None))
            )
    finally:
        server.terminate()  # the housekeeper seals what is left on its way out
        server.wait(timeout=30)
        server_log = log_path.read_text(errors="replace").splitlines()
        for line in server_log[-20:]:
            print(f"# server: {line}", file=sys.stderr)
    passed = report(results, backlog or 0, admin, autovacuum, vacuum)
    admin.dispose()
    return passed


def print_slice(n: int, measured: Slice) -> None:
    print(
        f"# slice {n} from {measured.started}: {measured.sent} of {MAX_RATE * SLICE_S} bodies "
        f"sent; connections by worker {'/'.join(map(str, measured.connections_by_worker))}",
        file=sys.stderr,
    )
    name = f"soak.slice{n}"
    print(f"{name}.per_s {measured.ok / measured.seconds:.0f} verifications/s")
    print(f"{name}.p50_ms {measured.p50_ms:.1f} ms")
    print(f"{name}.p99_ms {measured.p99_ms:.1f} ms")
    print(f"{name}.errors {measured.errors} responses")
    print(f"{name}.rss_mb {measured.rss_mb:.1f} MB")
    print(f"{name}.pg_private_mb {measured.pg_private_mb:.1f} MB")
    print(f"{name}.server_cpu_ms {measured.server_cpu_ms:.2f} ms/verification")
    print(f"{name}.pg_cpu_ms {measured.pg_cpu_ms:.2f} ms/verification")
    print(f"{name}.others_cpu_pct {measured.others_cpu_pct:.0f} %")
    busiest = max(measured.connections_by_worker, default=0)
    print(f"{name}.busiest_worker_connections {busiest} connections", flush=True)


def report(
    results: list[Slice], backlog: int, admin: Engine, autovacuum: bool, vacuum: Vacuum
) -> bool:
    """Print the summary figures; check the records and the chain; True if all holds."""
    steady = results[1:] or results
    sent = sum(r.sent for r in results)
    ok = sum(r.ok for r in results)
    errors = sum(r.errors for r in results)
    unread = sum(r.unread for r in results)
    ran_out = sum(r.ran_out for r in results)
    restarts = sum(a.server_pids != b.server_pids for a, b in itertools.pairwise(results))
    with admin.connect() as conn:
        records = conn.scalar(select(func.count()).select_from(AccessRecord)) or 0
        refused = (
            conn.scalar(
                select(func.count())
                .select_from(AccessRecord)
                .where(AccessRecord.answer.like('{"error"%'))
            )
            or 0
        )
        clinics_seen = conn.scalar(select(func.count(func.distinct(AccessRecord.clinic_code))))
        used = conn.scalar(select(func.count()).select_from(UsedChallenge)) or 0
        unsealed = (
            conn.scalar(
                select(func.count())
                .select_from(AccessRecord)
                .where(AccessRecord.chain_pos.is_(None))
            )
            or 0
        )
    with make_session_factory(admin)() as session:
        chain_break = access_log.verify_chain(session)
    records_match = records == ok + unread and refused == 0 and used == sent
    growth = 100 * (steady[-1].rss_mb - steady[0].rss_mb) / steady[0].rss_mb
    p99_growth = 100 * (steady[-1].p99_ms - steady[0].p99_ms) / steady[0].p99_ms
    print(f"soak.slices {len(results)} slices of {SLICE_S} s")
    print(f"soak.clinics {clinics_seen} clinics")
    print(f"soak.connections {CONNECTIONS} connections")
    print(f"soak.verify.per_s {ok / sum(r.seconds for r in results):.0f} verifications/s")
    print(f"soak.verifications {ok} answers")
    print(f"soak.errors {errors} responses")
    print(f"soak.p99_ms.first {steady[0].p99_ms:.1f} ms")
    print(f"soak.p99_ms.last {steady[-1].p99_ms:.1f} ms")
    print(f"soak.p99_ms.max {max(r.p99_ms for r in steady):.1f} ms")
    print(f"soak.p99_growth_pct {p99_growth:.1f} %")
    print(f"soak.latency_max_ms {max(r.max_ms for r in results):.1f} ms")
    print(f"soak.rss_mb.first {steady[0].rss_mb:.1f} MB")
    print(f"soak.rss_mb.last {steady[-1].rss_mb:.1f} MB")
    print(f"soak.rss_growth_pct {growth:.1f} %")
    print(f"soak.pg_private_mb.first {steady[0].pg_private_mb:.1f} MB")
    print(f"soak.pg_private_mb.last {steady[-1].pg_private_mb:.1f} MB")
    print(f"soak.others_cpu_pct {sum(r.others_cpu_pct for r in steady) / len(steady):.0f} %")
    print(f"soak.pg_autovacuum {int(autovacuum)} bool")
    print(f"soak.vacuums {vacuum.runs} runs")
    print(f"soak.vacuum_max_s {vacuum.longest_s:.1f} s")
    print(f"soak.worker_restarts {restarts} restarts")
    print(f"soak.unread {unread} answers")
    print(f"soak.access_records {records} records")
    print(f"soak.records_match {int(records_match)} bool")
    print(f"soak.unsealed_after_load {backlog} records")
    print(f"soak.chain_verified {int(chain_break is None and unsealed == 0)} bool")
    failures = []
    if errors:
        failures.append(f"{errors} errors")
    if not records_match:
        failures.append(
            f"{records} access records ({refused} refusals) for {ok} answers + {unread} unread; "
            f"{used} challenges used for {sent} bodies sent"
        )
    if ran_out:
        failures.append(f"the bodies ran out ({ran_out} times): raise SOAK_MAX_RATE")
    if restarts:
        failures.append(f"a worker was restarted ({restarts} times)")
    if growth > MAX_RSS_GROWTH_PCT:
        failures.append(f"the server's RSS grew by {growth:.0f} % (> {MAX_RSS_GROWTH_PCT:.0f} %)")
    if p99_growth > MAX_P99_GROWTH_PCT:
        failures.append(f"p99 grew by {p99_growth:.0f} % (> {MAX_P99_GROWTH_PCT:.0f} %)")
    if chain_break is not None or unsealed:
        failures.append(f"access log: {unsealed} records unsealed, chain break {chain_break}")
    for failure in failures:
        print(f"# FAILED: {failure}", file=sys.stderr)
    return not failures


def _terminated(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that the clean-up below runs


def main() -> None:
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    if b"run-benchmarks.sh" in parent:
        print("# not run by `make bench`: run `.venv/bin/python bench/soak.py`", file=sys.stderr)
        return
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is missing: `make bench` installs it (scripts/install-system-packages.sh)"
        )
    signal.signal(signal.SIGTERM, _terminated)
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    server_url, registry_url = throwaway_database("server"), throwaway_database("registry")
    try:
        world = prepare(work, server_url, registry_url)
        clinics = register_clinics(world, server_url)
        databases = [str(make_url(url).database) for url in (server_url, registry_url)]
        passed = soak(world, clinics, work, databases)
    finally:
        for url in (server_url, registry_url):
            drop_database(url)
        shutil.rmtree(work, ignore_errors=True)
    if not passed:
        raise SystemExit("soak failed")


if __name__ == "__main__":
    main()
