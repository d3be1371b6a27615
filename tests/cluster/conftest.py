"""One deployment for every test of this folder: HAProxy, two `qualification-server serve`
instances, a PostgreSQL primary and its hot standby, all private (their own folder under
/tmp, their own ports), stopped and removed when the last test is done.

Not marked `db`: the clusters are their own PostgreSQL, whatever DATABASE_URL says, so the
tests run once, in the first pass of `make test`. A missing haproxy or initdb fails them.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from qualification_server.clinics.service import register_clinic
from qualification_server.db import make_engine, make_session_factory, transaction
from qualification_server.deploy.cluster import Cluster
from qualification_server.models import AccessRecord, Registration
from tests.support.cards import issuer_copy
from tests.support.world import CLINIC, seed_registry

REGISTERED = ("yamada-taro", "suzuki-hanako", "ito-mai")  # sato-yui registers in a test


@dataclass
class Deployment:
    cluster: Cluster
    issuer: Issuer
    token: str
    qualification_ids: dict[str, int]
    server: sessionmaker[Session]  # the server's database on the primary, for the checks

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def card(self, label: str) -> Path:
        return self.issuer.card_path(label)

    def records_by_challenge(self) -> dict[str, int]:
        """How many access records of PIN checks answered (no error) each challenge has."""
        counts: dict[str, int] = {}
        with self.server() as session:
            pin_checks = select(AccessRecord.request, AccessRecord.answer).where(
                AccessRecord.method == "pin"
            )
            rows = session.execute(pin_checks)
            for request, answer in rows:
                if "error" in json.loads(answer):
                    continue
                challenge_id = json.loads(request)["challenge_id"]
                counts[challenge_id] = counts.get(challenge_id, 0) + 1
        return counts


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="package")
def deployment(
    issuer_template: Path,
    residents: dict[str, Resident],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    kept = tmp_path_factory.mktemp("cluster")
    issuer = issuer_copy(issuer_template, kept / "issuer")
    env = {
        "ONSHI_JPKI_CA_FILES": json.dumps([str(issuer.ca_certificate_path(issuer.auth_ca.kind))]),
        "ONSHI_JPKI_CRL_FILES": json.dumps([str(issuer.crl_path)]),
        "ONSHI_JPKI_SMARTPHONE_CA_FILES": "[]",  # cards only: no CA without its CRL (/readyz)
        "ONSHI_ISSUER_DIRECTORY_FILES": json.dumps([str(issuer.directory_path)]),
    }
    # PostgreSQL runs as the postgres user, which cannot enter pytest's folders under /tmp.
    root = Path(tempfile.mkdtemp(prefix="onshi-cluster-", dir="/tmp"))
    cluster = None
    try:
        cluster = Cluster(root, instances=2, env=env)
        cluster.start()
        ids = seed_registry(cluster.registry_primary_url, residents)
        engine = make_engine(cluster.server_database_url)
        sessions = make_session_factory(engine)
        now = dt.datetime.now(dt.UTC)
        with transaction(sessions) as s:
            token = register_clinic(session=s, code=CLINIC, name="霞が関クリニック", now=now)
            for label in REGISTERED:
                ref = person_reference(residents[label].my_number, DEVELOPMENT_PSEUDONYM_KEY)
                s.add(Registration(
                    person_ref=ref, registered_at=now, registered_via="tests",
                    certificate_issuer="-", certificate_serial="-",
                ))  # fmt: skip
        yield Deployment(cluster, issuer, token, ids, sessions)
        engine.dispose()
        # Stopped the way an operator stops it, from another process: nothing may be left.
        running = cluster.pids()
        ports = [cluster.ports.balancer, *cluster.ports.instances]
        ports += [cluster.ports.primary, cluster.ports.standby]
        command = [sys.executable, "-m", "qualification_server.deploy", "down", "--dir", str(root)]
        down = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        cluster.stop()  # reaps this process's children, which the command has ended
        assert not cluster.pids()
        deadline = time.monotonic() + 10  # the last of them may be exiting still
        while time.monotonic() < deadline and [p for p in running.values() if _exists(p)]:
            time.sleep(0.05)
        assert not {name: p for name, p in running.items() if _exists(p)}
        assert not [port for port in ports if _listening(port)]
    finally:
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            # the logs outlive the cluster, for whoever reads a failure
            if (root / "logs").exists():
                shutil.copytree(root / "logs", kept / "logs", dirs_exist_ok=True)
            shutil.rmtree(root, ignore_errors=True)
