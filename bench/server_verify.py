"""Benchmark: PIN-mode card verifications per second against PostgreSQL, and the same
server's trivial endpoint as the framework's ceiling, measured side by side in one run.

Set-up: throw-away PostgreSQL databases for the server and the registry, `CARDS` test cards
issued and registered, one clinic. The server runs as `qualification-server serve` with
`WORKERS` uvicorn workers; the load comes from wrk, a separate process, with `CONNECTIONS`
connections, then again with `FEW_CONNECTIONS` (`server.verify.few.*`: the latency when
requests do not queue). Each verify request carries its own fresh challenge, signed
beforehand with the card's key (signing is the card's work, not the server's; challenges
live long enough for the run). Also measured: the CPU per verification of the server's
processes and of PostgreSQL during the load runs, and, in process and without sockets, of
the check alone (`inprocess_cpu_ms`) and of the whole ASGI application (`asgi_cpu_ms`).
Prints `name value unit` lines. The server listens on 127.0.0.1:8391 (`BENCH_PORT`): a run
refuses to start while something else listens there (two runs side by side would measure
each other's server).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import create_engine, make_url, text

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.image import load_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from insurer_registry import db as registry_db
from insurer_registry.insurers.service import add_insurer
from insurer_registry.lookup.local import _PERSON_QUALIFICATIONS_SQL as LOOKUP_STATEMENT
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import MemberRecord
from insurer_registry.members.service import register_member
from onshi_kernel.four_items import FileResidentRegister
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, complete_my_number, person_reference
from onshi_kernel.numbers import InsurerNumber, complete_insurer_number
from qualification_server.api.app import build_dependencies, create_app
from qualification_server.cards import check as checks
from qualification_server.cards.challenges import Purpose, check_challenge, issue_challenge
from qualification_server.cards.check_record import _POSTGRESQL as RECORD_STATEMENT
from qualification_server.clinics.service import ClinicAuthenticator, register_clinic
from qualification_server.contract.schemas import CardCheckRequest
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.models import Registration
from qualification_server.settings import Settings
from qualification_server.trust.validation import validate_certificate

PG = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
CARDS = int(os.environ.get("BENCH_CARDS", "20"))
REQUESTS = int(os.environ.get("BENCH_VERIFY_REQUESTS", "25000"))  # per load run
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "15"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# a second run with fewer connections: the latency when the server is not queueing
FEW_CONNECTIONS = int(os.environ.get("BENCH_FEW_CONNECTIONS", "8"))
# Only the in-process CPU figure (quick, steadier than the load run while developing)
IN_PROCESS_ONLY = os.environ.get("BENCH_IN_PROCESS_ONLY") == "1"
PORT = int(os.environ.get("BENCH_PORT", "8391"))
CLINIC = "1310000017"

# Each thread formats its own half of the bodies into whole requests at start-up, so that
# wrk's per-request work is returning a string, as near as Lua allows to the trivial run's
# static request (wrk shares the two cores with the server: its CPU a request is printed).
# No response() callback: defining one makes wrk hand every response to Lua. Refusals
# (4xx, 5xx) are counted by wrk itself (summary.errors.status).
WRK_SCRIPT = r"""
local requests = {}
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = args[2]
  local n = 0
  -- the two threads take alternate bodies, so no body is sent twice
  for line in io.lines(args[1]) do
    n = n + 1
    if n % 2 == tid % 2 then requests[#requests + 1] = wrk.format(nil, nil, nil, line) end
  end
end
function request()
  counter = counter + 1
  return requests[((counter - 1) % #requests) + 1]
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %f %f %f\n", summary.requests,
    summary.duration, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
"""
TRIVIAL_SCRIPT = r"""
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %f %f %f\n", summary.requests,
    summary.duration, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
"""


def throwaway_database(name: str) -> str:
    url = make_url(PG)
    db = f"onshi_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    return url.set(database=db).render_as_string(hide_password=False)


def drop_database(url_text: str) -> None:
    url = make_url(url_text)
    admin = create_engine(url.set(database=make_url(PG).database), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def make_residents(n: int) -> list[Resident]:
    rng = random.Random(7)
    return [
        Resident(
            label=f"bench-{i:04d}",
            my_number=complete_my_number(f"{rng.randrange(10**11):011d}"),
            name=f"試験 {i}",
            name_kana="シケン",
            birth_date=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
            sex="1" if i % 2 else "2",
            address="東京都千代田区",
        )
        for i in range(n)
    ]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far of these processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(int(p) for p in found.split())]


def settled_workers(supervisor: int, workers: int, timeout_s: float = 120) -> list[int]:
    """The server's processes once all `workers` have started and gone idle. uvicorn spawns
    its workers one after another, each taking seconds of CPU to import and start: a
    worker that starts during a load run would count its start-up as the run's CPU, and
    one that is not yet there would not be counted at all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = children(supervisor)
        spawned = [
            pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        if len(spawned) >= workers or workers == 1:  # one worker: uvicorn does not spawn
            before = cpu_seconds(pids)
            time.sleep(1.0)
            if cpu_seconds(pids) - before < 0.1 * (workers + 1):
                return pids
        else:
            time.sleep(0.5)
    raise SystemExit(f"the server's {workers} workers did not settle in {timeout_s:.0f} s")


def postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def run_wrk(
    script: Path,
    url: str,
    *args: str,
    connections: int = CONNECTIONS,
    duration_s: int = DURATION_S,
) -> dict[str, float]:
    """One wrk run; also its own CPU a request (the load generator shares the cores)."""
    with tempfile.TemporaryFile("w+") as captured:
        wrk = subprocess.Popen(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--timeout", "5s",
             "-s", str(script), url, "--", *args],
            stdout=captured, text=True,
        )  # fmt: skip
        _, wait_status, usage = os.wait4(wrk.pid, 0)
        wrk.returncode = os.waitstatus_to_exitcode(wait_status)
        if wrk.returncode != 0:
            raise SystemExit(f"wrk failed ({wrk.returncode})")
        captured.seek(0)
        out = captured.read()
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    for status, n in re.findall(r"STATUS (\d+) (\d+)", out):  # refusals would show here
        print(f"# HTTP {status}: {n}", file=sys.stderr)
    requests, duration_us, status_errors, socket_errors = (int(g) for g in match.groups()[:4])
    p50, p99, p999 = (float(g) for g in match.groups()[4:])
    return {
        "wrk_cpu_ms": 1000 * (usage.ru_utime + usage.ru_stime) / max(requests, 1),
        "per_s": requests / (duration_us / 1e6),
        "requests": requests,
        "errors": status_errors + socket_errors,
        "p50_ms": p50,
        "p99_ms": p99,
        "p999_ms": p999,
    }


@dataclass(frozen=True)
class World:
    """What the run needs: the server's environment, the clinic's token, the cards."""

    env: dict[str, str]
    token: str
    cards: list[tuple[bytes, rsa.RSAPrivateKey]]  # (certificate DER, private key)


@dataclass(frozen=True)
class Cards:
    """The test issuer's cards, issued before any server starts: its files are the trust
    settings every instance is given."""

    issuer: Issuer
    residents: list[Resident]
    keys: list[tuple[bytes, rsa.RSAPrivateKey]]  # (certificate DER, private key)

    def trust_env(self) -> dict[str, str]:
        """The server's settings for this issuer's CA, CRL and directory."""
        issuer = self.issuer
        return {
            "ONSHI_JPKI_CA_FILES": json.dumps(
                [str(issuer.ca_certificate_path(issuer.auth_ca.kind))]
            ),
            "ONSHI_JPKI_CRL_FILES": json.dumps([str(issuer.crl_path)]),
            "ONSHI_JPKI_SMARTPHONE_CA_FILES": "[]",  # cards only: no CA without its CRL
            "ONSHI_ISSUER_DIRECTORY_FILES": json.dumps([str(issuer.directory_path)]),
            "ONSHI_CHALLENGE_TTL_S": "600",
        }


def issue_cards(work: Path) -> Cards:
    """Issue `CARDS` test cards (the issuer's files under `work`)."""
    issuer = Issuer.open(work / "issuer", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    residents = make_residents(CARDS)
    keys: list[tuple[bytes, rsa.RSAPrivateKey]] = []
    for resident in residents:
        path, _ = issuer.issue_card(resident, pin="1234")
        image = load_image(path)
        key = load_pem_private_key(image.auth_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        keys.append((image.jpki_files[JpkiFile.AUTH_CERT], key))
    return Cards(issuer, residents, keys)


def populate(cards: Cards, server_url: str, registry_url: str) -> World:
    """Fill the registry with the cards' persons, register the clinic and the cards."""
    issuer, residents = cards.issuer, cards.residents
    engine = registry_db.make_engine(registry_url)
    registry_db.migrate(engine)
    # The issuer's register of the cards just issued: every registration matches.
    register = FileResidentRegister([issuer.register_path])
    with registry_db.transaction(registry_db.make_session_factory(engine)) as s:
        insurer = add_insurer(
            session=s, number=InsurerNumber(complete_insurer_number("0113001")), name="協会"
        )
        for i, r in enumerate(residents):
            register_member(
                session=s, insurer=insurer, actor=Actor.operator("bench"), register=register,
                person_ref=person_reference(r.my_number, DEVELOPMENT_PSEUDONYM_KEY),
                record=MemberRecord(
                    number=str(10000 + i), branch="00",
                    card_classification=InsuredCardClassification.GENERAL,
                    personal_family=PersonalFamilyClassification.INSURED,
                    name=r.name, name_kana=r.name_kana, sex=Sex(r.sex),
                    birthdate=r.birth_date, qualification_date=dt.date(2020, 4, 1),
                    contribution_ratio=ContributionRatio.THIRTY_PERCENT,
                ),
            )  # fmt: skip
    engine.dispose()

    engine = make_engine(server_url)
    migrate(engine)
    now = dt.datetime.now(dt.UTC)
    with transaction(make_session_factory(engine)) as s:
        token = register_clinic(session=s, code=CLINIC, name="bench", now=now)
        for r in residents:
            s.add(Registration(
                person_ref=person_reference(r.my_number, DEVELOPMENT_PSEUDONYM_KEY),
                registered_at=now, registered_via="bench", certificate_issuer="-",
                certificate_serial="-",
            ))  # fmt: skip
    engine.dispose()

    env = {
        **os.environ,
        "DATABASE_URL": server_url,
        "ONSHI_REGISTRY_DATABASE_URL": registry_url,
        **cards.trust_env(),
    }
    return World(env=env, token=token, cards=cards.keys)


def prepare(work: Path, server_url: str, registry_url: str) -> World:
    """Issue the cards, fill the registry, register the clinic and the cards."""
    return populate(issue_cards(work), server_url, registry_url)


def _settings(world: World) -> Settings:
    saved = dict(os.environ)
    os.environ.update(world.env)
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _signed_bodies(world: World, settings: Settings, n: int) -> list[dict[str, object]]:
    bodies: list[dict[str, object]] = []
    for i in range(n):
        issued = issue_challenge(
            key=settings.challenge_key_bytes, purpose=Purpose.CHECK, client=CLINIC,
            now=dt.datetime.now(dt.UTC), ttl_s=600,
        )  # fmt: skip
        der, key = world.cards[i % len(world.cards)]
        signature = key.sign(issued.token, padding.PKCS1v15(), hashes.SHA256())
        bodies.append({
            "challenge": base64.b64encode(issued.token).decode(),
            "certificate": base64.b64encode(der).decode(),
            "proof": {"method": "pin", "signature": base64.b64encode(signature).decode()},
        })  # fmt: skip
    return bodies


def _libpq(url_text: str) -> str:
    return make_url(url_text).set(drivername="postgresql").render_as_string(hide_password=False)


def backend_pids(connection: psycopg.Connection[Any], databases: list[str]) -> list[int]:
    """PostgreSQL's backends serving these databases now (not other users of the cluster)."""
    rows = connection.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
        [databases],
    ).fetchall()
    return [pid for (pid,) in rows]


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two snapshots; a process born between them counts from zero."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass(frozen=True)
class Floor:
    """The floor's CPU a verification, split by step (ms), and PostgreSQL's (its backends)."""

    total_ms: float
    steps_ms: dict[str, float]
    postgres_ms: float


def floor_cpu(world: World, server_url: str, registry_url: str, n: int = 1200) -> Floor:
    """The same work as a verification with no HTTP, no framework, no models: the challenge's
    MAC (the server's `check_challenge`), the certificate's path (the server's validator: the
    CA's signature, the path, the CRL), the card's signature, then the registry lookup and
    the check's record, each the server's own SQL text, prepared, on raw psycopg (sync, in
    autocommit). The bodies are signed and decoded before the clock starts; the record's
    request and answer are a real record's, written by the server in this run."""
    settings = _settings(world)
    deps = build_dependencies(settings)
    anchors = deps.trust.anchors()
    key = settings.challenge_key_bytes
    bodies = _signed_bodies(world, settings, n)
    raw = [
        (
            base64.b64decode(str(b["challenge"])),
            base64.b64decode(str(b["certificate"])),
            base64.b64decode(str(b["proof"]["signature"])),  # type: ignore[index]
        )
        for b in bodies
    ]
    now = dt.datetime.now(dt.UTC)
    person_by_serial = {}
    for _, der, _ in raw[: len(world.cards)]:
        cert = validate_certificate(der, anchors, now, grace=True)
        person_by_serial[cert.serial] = deps.directory.person_of(cert.issuer_string, cert.serial)
    server = psycopg.connect(_libpq(server_url), autocommit=True)
    registry = psycopg.connect(_libpq(registry_url), autocommit=True)
    request_json, answer_json = server.execute(
        "SELECT request, answer FROM access_records"
        " WHERE method = 'pin' AND answer LIKE '%%validity%%' ORDER BY id DESC LIMIT 1"
    ).fetchone() or ("{}", "{}")
    steps = dict.fromkeys(("mac", "path", "signature", "lookup", "record"), 0.0)
    clock = time.process_time

    def one(token: bytes, der: bytes, signature: bytes, timed: bool) -> None:
        t0 = clock()
        at = dt.datetime.now(dt.UTC)
        challenge = check_challenge(token, key=key, purpose=Purpose.CHECK, client=CLINIC, now=at)
        t1 = clock()
        cert = validate_certificate(der, anchors, at, grace=True)
        t2 = clock()
        cert.public_key.verify(signature, token, padding.PKCS1v15(), hashes.SHA256())
        t3 = clock()
        person_ref = person_by_serial[cert.serial]
        rows = registry.execute(LOOKUP_STATEMENT, {"person_ref": person_ref}, prepare=True)
        if not rows.fetchall():
            raise SystemExit("the floor's lookup found no qualification")
        t4 = clock()
        row = server.execute(
            RECORD_STATEMENT,
            {
                "challenge_id": challenge.challenge_id, "expires_at": challenge.expires_at,
                "face_card": None, "recorded_at": at, "clinic_code": CLINIC,
                "person_ref": person_ref, "method": "pin", "request": request_json,
                "answer": answer_json,
            },
            prepare=True,
        ).fetchone()  # fmt: skip
        if row is None or not (row[0] and row[1]):
            raise SystemExit(f"the floor's record was refused: {row}")
        t5 = clock()
        if timed:
            spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
            for name, spent in zip(steps, spans, strict=True):
                steps[name] += spent

    try:
        warm = 100
        for token, der, signature in raw[:warm]:
            one(token, der, signature, timed=False)
        databases = [make_url(u).database or "" for u in (server_url, registry_url)]
        with psycopg.connect(_libpq(server_url), autocommit=True) as watcher:
            pids = backend_pids(watcher, databases)
            pg_before = cpu_by_pid(pids)
            started = clock()
            for token, der, signature in raw[warm:]:
                one(token, der, signature, timed=True)
            used = clock() - started
            pg_used = cpu_since(pg_before, cpu_by_pid(pids))
    finally:
        server.close()
        registry.close()
    count = n - warm
    return Floor(
        total_ms=1000 * used / count,
        steps_ms={name: 1000 * spent / count for name, spent in steps.items()},
        postgres_ms=1000 * pg_used / count,
    )


def print_storage(connection: psycopg.Connection[Any]) -> None:
    """What this run's rows take on disk (tables, indexes, TOAST; every partition), per
    row: the figures a capacity estimate multiplies."""
    connection.execute("VACUUM ANALYZE access_records, access_tree_nodes, used_challenges")

    def size(table: str) -> tuple[int, int]:
        # a plain table has no partition tree: then its own size
        row = connection.execute(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            f" FROM pg_partition_tree('{table}')), pg_total_relation_size('{table}'))::bigint"
        ).fetchone()
        rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return (int(row[0]) if row else 0), (int(rows[0]) if rows else 0)

    record_bytes, records = size("access_records")
    node_bytes, nodes = size("access_tree_nodes")
    used_bytes, used = size("used_challenges")
    print(f"storage.access_records {records} records")
    print(f"storage.access_record_bytes {record_bytes / max(records, 1):.0f} bytes/record")
    print(f"storage.tree_nodes_per_record {nodes / max(records, 1):.2f} nodes/record")
    print(f"storage.tree_node_bytes_per_record {node_bytes / max(records, 1):.0f} bytes/record")
    print(f"storage.used_challenge_bytes {used_bytes / max(used, 1):.0f} bytes/challenge")


def print_floor(floor: Floor) -> None:
    print(f"server.verify.floor_cpu_ms {floor.total_ms:.3f} ms/verification")
    for step, spent in floor.steps_ms.items():
        print(f"server.verify.floor.{step}_ms {spent:.3f} ms/verification")
    print(f"server.verify.floor_postgres_cpu_ms {floor.postgres_ms:.3f} ms/verification")


def in_process_cpu_ms(world: World, checks_to_run: int = 600) -> float:
    """CPU per card check of the server's own work, without HTTP: `checks.card_check`
    called directly with fresh signed challenges (signing is done before the clock starts)."""
    settings = _settings(world)
    deps = build_dependencies(settings)
    clinic = ClinicAuthenticator(deps.sessions).authenticate(world.token)
    requests = [
        CardCheckRequest.model_validate(body)
        for body in _signed_bodies(world, settings, checks_to_run)
    ]

    async def run() -> float:
        await deps.checks.open()  # what the app's start-up does
        await deps.source.aopen()
        for request in requests[:50]:  # warm the caches and the pools
            await checks.card_check(deps, clinic=clinic, request=request)
        started = time.process_time()
        for request in requests[50:]:
            await checks.card_check(deps, clinic=clinic, request=request)
        used = time.process_time() - started
        await deps.checks.aclose()
        await deps.source.aclose()
        return 1000 * used / (checks_to_run - 50)

    return asyncio.run(run())


def asgi_cpu_ms(world: World, checks_to_run: int = 1200, in_flight: int = 8) -> float:
    """CPU per verification of the whole application (framework, threads, check), called
    as ASGI in this process with `in_flight` requests at a time: no sockets, no load
    generator, so it is steadier than the load run on a busy machine."""
    settings = _settings(world)
    app = create_app(build_dependencies(settings))
    bodies = [json.dumps(b).encode() for b in _signed_bodies(world, settings, checks_to_run)]
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {world.token}".encode()),
    ]

    async def verify(body: bytes) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/eligibility/card",
            "raw_path": b"/v1/eligibility/card", "query_string": b"", "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", PORT),
        }  # fmt: skip
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError

        async def send(message: dict[str, object]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])  # type: ignore[call-overload]

        await app(scope, receive, send)  # type: ignore[arg-type]
        return status

    async def run() -> float:
        async with app.router.lifespan_context(app):
            gate = asyncio.Semaphore(in_flight)

            async def gated(body: bytes) -> int:
                async with gate:
                    return await verify(body)

            warm = await asyncio.gather(*(gated(b) for b in bodies[:100]))
            started = time.process_time()
            statuses = await asyncio.gather(*(gated(b) for b in bodies[100:]))
            used = time.process_time() - started
        if set(warm) | set(statuses) != {200}:
            raise SystemExit(f"in-process verifications failed: {sorted(set(statuses))}")
        return 1000 * used / (len(bodies) - 100)

    return asyncio.run(run())


def _port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:`port` (so the server started is the one asked)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is missing: `make bench` installs it (scripts/install-system-packages.sh)"
        )
    if not IN_PROCESS_ONLY and not _port_is_free(PORT):  # checked again by the start itself
        raise SystemExit(
            f"port {PORT} is taken (another benchmark's server?): stop it, or choose another"
            " with BENCH_PORT"
        )
    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    server_url, registry_url = throwaway_database("server"), throwaway_database("registry")
    server = None
    try:
        world = prepare(work, server_url, registry_url)
        inprocess = in_process_cpu_ms(world)
        asgi = asgi_cpu_ms(world)
        floor = floor_cpu(world, server_url, registry_url)
        print(f"server.verify.inprocess_cpu_ms {inprocess:.2f} ms/verification")
        print(f"server.verify.asgi_cpu_ms {asgi:.2f} ms/verification")
        print_floor(floor)
        print(f"server.verify.inprocess_over_floor {inprocess / floor.total_ms:.2f} ratio")
        print(f"server.verify.asgi_over_floor {asgi / floor.total_ms:.2f} ratio")
        if IN_PROCESS_ONLY:
            return
        env, token = world.env, world.token
        script = shutil.which("qualification-server", path=str(Path(sys.executable).parent))
        assert script is not None
        server = subprocess.Popen(
            [script, "serve", "--port", str(PORT), "--workers", str(WORKERS), "--no-migrate"],
            env=env,
        )
        base = f"http://127.0.0.1:{PORT}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 120  # a start on a busy two-core machine
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:  # whoever answers on the port, it is not ours
                    raise SystemExit(f"the server exited at start (status {server.returncode})")
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.2)
            # fresh challenges for each run, issued with the server's key and signed by the
            # cards beforehand (the same tokens the server's /v1/challenges would issue)
            settings = _settings(world)
            runs = {c: work / f"bodies-{c}.jsonl" for c in (CONNECTIONS, FEW_CONNECTIONS)}
            for path in runs.values():
                lines = (json.dumps(b) for b in _signed_bodies(world, settings, REQUESTS))
                path.write_text("\n".join(lines) + "\n")
            # one check by hand: the bodies are accepted
            sample = json.loads(runs[CONNECTIONS].read_text().splitlines()[-1])
            sample_answer = client.post("/v1/eligibility/card", json=sample, headers=headers)
            if sample_answer.status_code != 200:
                raise SystemExit(f"sample verify failed: {sample_answer.text}")
        verify_lua, trivial_lua = work / "verify.lua", work / "trivial.lua"
        verify_lua.write_text(WRK_SCRIPT)
        trivial_lua.write_text(TRIVIAL_SCRIPT)
        # the trivial endpoint just before and just after the 32-connection run: the ceiling
        # is their mean, so a change in the machine's other load shows as their spread
        server_pids = settled_workers(server.pid, WORKERS)
        trivial_cpu = cpu_seconds(server_pids)
        trivial_runs = [run_wrk(trivial_lua, f"{base}/healthz")]
        trivial_cpu = cpu_seconds(server_pids) - trivial_cpu
        # the first REQUESTS - 1 bodies are fresh; past them wrk replays, which the server
        # must refuse (409): only 200 answers count as verifications
        databases = [make_url(u).database or "" for u in (server_url, registry_url)]
        watcher = psycopg.connect(_libpq(server_url), autocommit=True)
        load_server_cpu_ms = 0.0
        for connections, bodies in runs.items():
            name = "server.verify" if connections == CONNECTIONS else "server.verify.few"
            server_cpu = cpu_seconds(server_pids)
            pg_before = cpu_by_pid(backend_pids(watcher, databases))
            verify = run_wrk(
                verify_lua, f"{base}/v1/eligibility/card", str(bodies),
                headers["Authorization"], connections=connections,
            )  # fmt: skip
            if verify["requests"] >= REQUESTS:
                print(
                    f"# warning: {verify['requests']} requests > {REQUESTS} fresh bodies",
                    file=sys.stderr,
                )
            server_cpu = cpu_seconds(server_pids) - server_cpu
            pg_cpu = cpu_since(pg_before, cpu_by_pid(backend_pids(watcher, databases)))
            ok_per_s = (verify["requests"] - verify["errors"]) / DURATION_S
            answered = verify["requests"]
            print(f"{name}.connections {connections} connections")
            print(f"{name}.per_s {ok_per_s:.0f} verifications/s")
            print(f"{name}.p50_ms {verify['p50_ms']:.1f} ms")
            print(f"{name}.p99_ms {verify['p99_ms']:.1f} ms")
            print(f"{name}.p99_over_p50 {verify['p99_ms'] / verify['p50_ms']:.2f} ratio")
            print(f"{name}.errors {verify['errors']:.0f} responses")
            print(f"{name}.server_cpu_ms {1000 * server_cpu / answered:.2f} ms/verification")
            print(f"{name}.postgres_cpu_ms {1000 * pg_cpu / answered:.2f} ms/verification")
            print(f"{name}.wrk_cpu_ms {verify['wrk_cpu_ms']:.3f} ms/request")
            if connections == CONNECTIONS:
                load_server_cpu_ms = 1000 * server_cpu / answered
                trivial_runs.append(run_wrk(trivial_lua, f"{base}/healthz"))
                trivial = sum(t["per_s"] for t in trivial_runs) / len(trivial_runs)
                before, after = (t["per_s"] for t in trivial_runs)
                print(f"server.trivial.per_s {trivial:.0f} requests/s")
                print(f"server.trivial.before_after {before:.0f}/{after:.0f} requests/s")
                print(f"server.trivial.wrk_cpu_ms {trivial_runs[0]['wrk_cpu_ms']:.3f} ms/request")
                trivial_ms = 1000 * trivial_cpu / max(trivial_runs[0]["requests"], 1)
                print(f"server.trivial.server_cpu_ms {trivial_ms:.3f} ms/request")
                print(f"server.verify.ceiling_ratio {ok_per_s / trivial:.3f} ratio")
                # When the cores are the limit, a rate is the inverse of the CPU a request
                # costs on them (server, PostgreSQL, wrk): the ratio a server doing only
                # the floor's work would reach against this trivial endpoint.
                trivial_total = trivial_ms + trivial_runs[0]["wrk_cpu_ms"]
                floor_total = floor.total_ms + floor.postgres_ms + verify["wrk_cpu_ms"]
                print(f"server.verify.floor_ceiling_ratio {trivial_total / floor_total:.3f} ratio")
        print_storage(watcher)
        watcher.close()
        # the floor again, after the load: the ratio takes the mean of the two
        again = floor_cpu(world, server_url, registry_url)
        floor_ms = (floor.total_ms + again.total_ms) / 2
        print(f"server.verify.floor_cpu_ms.after {again.total_ms:.3f} ms/verification")
        print(f"server.verify.floor_ratio {load_server_cpu_ms / floor_ms:.2f} ratio")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        for url in (server_url, registry_url):
            drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
