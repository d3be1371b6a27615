"""PostgreSQL stopped and started again under load (issue #7): requests fail fast with 503
and a retry hint, service resumes by itself, and no access record is lost or doubled.

A private PostgreSQL cluster (initdb into a temporary folder, its own port) is the database
here, so stopping it disturbs nobody else; the server is the real `qualification-server
serve` in its own process, the load comes from threads that check cards the way the front
desk does (challenge, PIN signature by the emulated card, check).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from qualification_server.access_log import log as access_log
from qualification_server.clinics.service import register_clinic
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.models import AccessRecord, Registration
from tests.support.ports import free_port
from tests.support.world import CLINIC, seed_registry, sign_with_card

LOAD_THREADS = 4
REGISTERED = ("yamada-taro", "suzuki-hanako", "ito-mai")


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:  # a missing real part fails the run, in CI and elsewhere alike
        pytest.fail("PostgreSQL's server binaries (initdb, pg_ctl) are missing: install postgresql")
    return Path(found[-1]).parent


@dataclass
class Cluster:
    """A private PostgreSQL cluster, run as the `postgres` user when we are root."""

    bin: Path
    root: Path
    port: int

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"),
                  "-o", options, "-w", "start")  # fmt: skip

    def stop(self) -> None:
        # immediate: what a crash or a kill leaves; committed work must survive it
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://onshi@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="onshi-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = Cluster(bin_dir, root, free_port())
    cluster._run("initdb", "-D", str(root / "data"), "-U", "onshi", "--auth=trust", "-E", "UTF8")
    cluster.start()
    try:
        admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE server"))
            conn.execute(text("CREATE DATABASE registry"))
        admin.dispose()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Outcome:
    """What one front-desk check saw."""

    challenge_id: str
    status: int  # 0: no HTTP answer at all
    seconds: float
    retry_after: str | None = None


@dataclass
class Load:
    """Front desks checking cards in threads until told to stop."""

    base: str
    token: str
    cards: list[Path]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def desk(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, timeout=20) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    asked = client.post("/v1/challenges", json={}, headers=headers)
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if asked.status_code != 200:  # a worker whose token memory ran out: 503
                    time.sleep(0.05)
                    continue
                issued = asked.json()
                cert, signature = sign_with_card(
                    self.cards[(n + i) % len(self.cards)], issued["challenge"]
                )
                body = {
                    "challenge": issued["challenge"],
                    "certificate": cert,
                    "proof": {"method": "pin", "signature": signature},
                }
                started = time.monotonic()
                try:
                    response = client.post("/v1/eligibility/card", json=body, headers=headers)
                    outcome = Outcome(
                        issued["challenge_id"], response.status_code,
                        time.monotonic() - started, response.headers.get("retry-after"),
                    )  # fmt: skip
                except httpx.TransportError:
                    outcome = Outcome(issued["challenge_id"], 0, time.monotonic() - started)
                with self.lock:
                    self.outcomes.append(outcome)
                if outcome.status != 200:
                    time.sleep(0.1)  # what a front desk does before trying again

    def since(self, mark: int) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes[mark:])

    def mark(self) -> int:
        with self.lock:
            return len(self.outcomes)

    def wait_for(self, count: int, status: int, timeout_s: float) -> list[Outcome]:
        mark, deadline = self.mark(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = [o for o in self.since(mark) if o.status == status]
            if len(seen) >= count:
                return seen
            time.sleep(0.05)
        raise AssertionError(
            f"fewer than {count} answers {status} within {timeout_s} s: "
            f"{[o.status for o in self.since(mark)][-20:]}"
        )


def test_postgresql_restart_under_load(
    cluster: Cluster, issuer_template: Path, residents: dict[str, Resident], tmp_path: Path
) -> None:
    root = tmp_path / "issuer"
    shutil.copytree(issuer_template, root)
    issuer = Issuer.open(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    seed_registry(cluster.url("registry"), residents)
    engine = make_engine(cluster.url("server"))
    migrate(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as s:
        token = register_clinic(session=s, code=CLINIC, name="霞が関クリニック", now=now)
        for label in REGISTERED:
            s.add(Registration(
                person_ref=person_reference(residents[label].my_number, DEVELOPMENT_PSEUDONYM_KEY),
                registered_at=now,
                registered_via="tests", certificate_issuer="-", certificate_serial="-",
            ))  # fmt: skip

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url("server"),
        "ONSHI_REGISTRY_DATABASE_URL": cluster.url("registry"),
        "ONSHI_JPKI_CA_FILES": json.dumps([str(issuer.ca_certificate_path(issuer.auth_ca.kind))]),
        "ONSHI_JPKI_CRL_FILES": json.dumps([str(issuer.crl_path)]),
        "ONSHI_JPKI_SMARTPHONE_CA_FILES": "[]",  # cards only: no CA without its CRL (/readyz)
        "ONSHI_ISSUER_DIRECTORY_FILES": json.dumps([str(issuer.directory_path)]),
    }
    script = Path(sys.executable).parent / "qualification-server"
    # The server's log goes to a file: a pipe nobody reads while it runs would fill up and
    # stall the workers as they write the outage's warnings.
    server_log = tmp_path / "server.log"
    with server_log.open("wb") as log_file:
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--workers", "2", "--no-migrate"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
    load = Load(f"http://127.0.0.1:{port}", token, [issuer.card_path(x) for x in REGISTERED])
    desks = [threading.Thread(target=load.desk, args=(n,)) for n in range(LOAD_THREADS)]
    try:
        _wait_ready(load.base)
        for desk in desks:
            desk.start()
        load.wait_for(40, 200, timeout_s=60)  # service under load

        outage_mark = load.mark()  # before: a check cut off as the server dies is "unsure"
        cluster.stop()
        refused = load.wait_for(8, 503, timeout_s=30)
        # failing fast, with a retry hint, and the readiness probe tells the balancer
        assert all(o.retry_after for o in refused)
        # (the slowest wait out the pool's 3 s for a connection; the rest is a busy machine)
        assert max(o.seconds for o in refused) < 8.0, [o.seconds for o in refused]
        assert httpx.get(f"{load.base}/readyz", timeout=10).status_code == 503
        assert httpx.get(f"{load.base}/healthz", timeout=10).status_code == 200

        cluster.start()
        load.wait_for(40, 200, timeout_s=60)  # service resumes, the server untouched
        assert server.poll() is None
    finally:
        load.stop.set()
        for desk in desks:
            if desk.is_alive() or desk.ident is not None:
                desk.join(timeout=30)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    stderr = server_log.read_bytes()

    outcomes = load.since(0)
    statuses = {o.status for o in outcomes}
    assert statuses <= {200, 503, 0}, f"unexpected answers {statuses}: {stderr.decode()[-2000:]}"
    answered = {o.challenge_id for o in outcomes if o.status == 200}
    unsure = {o.challenge_id for o in outcomes[outage_mark:] if o.status != 200}
    engine.dispose()  # its connections died with the restart
    with transaction(sessions) as s:
        while access_log.seal(s) == access_log.SEAL_BATCH:
            pass
    with sessions() as s:
        records = [
            json.loads(r)
            for r in s.scalars(select(AccessRecord.request).where(AccessRecord.method == "pin"))
        ]
        answers = [
            json.loads(a)
            for a in s.scalars(select(AccessRecord.answer).where(AccessRecord.method == "pin"))
        ]
        assert access_log.verify_chain(s) is None
        assert s.scalar(select(func.count()).select_from(Registration)) == len(REGISTERED)
    recorded = [
        r["challenge_id"] for r, a in zip(records, answers, strict=True) if "error" not in a
    ]
    # no answer without its record, no record twice
    assert len(recorded) == len(set(recorded))
    assert answered <= set(recorded), f"{len(answered - set(recorded))} answers not recorded"
    # a record without an answer can only be a check whose reply the outage cut off
    assert set(recorded) - answered <= unsure
    engine.dispose()


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")
