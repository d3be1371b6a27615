"""The conformance kit against this project's own server: everything passes; and when the
server breaks an expectation, the kit names the scenario and the reason."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clinic_client.api import QualificationClient
from clinic_client.conformance import scenarios
from clinic_client.conformance.connector_mode import CONNECTOR_CATALOGUE, FolderContext
from clinic_client.conformance.kit import INSURER_A, INSURER_B, Kit, create_kit
from clinic_client.conformance.runner import Outcome, run_catalogue, table, write_junit
from clinic_client.conformance.scenarios import CATALOGUE, Context
from clinic_client.connector import run_connector
from insurer_registry import db as registry_db
from insurer_registry.lookup.local import RegistryQualificationSource
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.api.app import create_app
from qualification_server.api.dependencies import Dependencies
from qualification_server.clinics.service import register_clinic, register_device
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings
from qualification_server.trust.files import TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory
from tests.support.desk import ServerThread

pytestmark = pytest.mark.db
CLINIC = "1310000017"
BIN = Path(sys.executable).parent


def registry_cli(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([str(BIN / "insurer-registry"), *args], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def serve_kit(
    kit: Kit, make_db: Callable[[str], str], crl_files: list[Path] | None = None
) -> tuple[Dependencies, str]:
    registry_url = make_db("registry")
    registry_cli(registry_url, "insurer", "add", INSURER_A, "conformance A")
    registry_cli(registry_url, "insurer", "add", INSURER_B, "conformance B")
    registry_cli(registry_url, "import", str(kit.members_csv))
    issuer = kit.issuer_dir
    settings = Settings(
        database_url=make_db("server"),
        registry_database_url=registry_url,
        jpki_ca_files=[issuer / "ca" / "auth_ca.pem"],
        jpki_smartphone_ca_files=[issuer / "ca" / "phone_auth_ca.pem"],
        jpki_crl_files=crl_files
        or [issuer / "crl" / "auth_ca.crl", issuer / "crl" / "phone_auth_ca.crl"],
        issuer_directory_files=[issuer / "directory.json"],
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as s:
        token = register_clinic(session=s, code=CLINIC, name="conformance clinic", now=now)
        public = kit.device_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        register_device(session=s, clinic_code=CLINIC, device_id="kit-face", public_key=public,
                        now=now)  # fmt: skip
    deps = Dependencies(
        settings=settings,
        sessions=sessions,
        trust=TrustStore(
            settings.jpki_ca_files,
            settings.jpki_crl_files,
            check_interval_s=0,
            smartphone_ca_files=settings.jpki_smartphone_ca_files,
        ),
        directory=FileIssuerDirectory(settings.issuer_directory_files, check_interval_s=0),
        source=RegistryQualificationSource(
            registry_db.make_session_factory(registry_db.make_engine(registry_url))
        ),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    return deps, token


@pytest.fixture(scope="module")
def kit_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit") / "kit"
    create_kit(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    return root


@pytest.fixture
def kit(kit_template: Path, tmp_path: Path) -> Kit:
    root = tmp_path / "kit"
    shutil.copytree(kit_template, root)
    return Kit.load(root)


def run_against(kit: Kit, deps: Dependencies, token: str) -> Iterator[list]:  # type: ignore[type-arg]
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, token)
        context = Context(client=client, server_url=server.url, kit=kit,
                          issuer=kit.issuer(DEVELOPMENT_PSEUDONYM_KEY),
                          device=("kit-face", kit.device_key()))  # fmt: skip
        yield run_catalogue(context, CATALOGUE)
        client.close()


def test_the_project_server_passes_every_scenario(
    kit: Kit,
    database_factory: Callable[[str], str],
    tmp_path: Path,
) -> None:
    deps, token = serve_kit(kit, database_factory)
    for results in run_against(kit, deps, token):
        print(table(results))
        failed = [(r.scenario.id, r.reason) for r in results if r.outcome is not Outcome.PASSED]
        assert failed == []
        assert len(results) == len(CATALOGUE) == 28
        junit = tmp_path / "conformance.xml"
        write_junit(results, junit)
        text = junit.read_text()
        assert 'tests="28"' in text and 'failures="0"' in text


def test_a_broken_expectation_is_named_with_its_reason(
    kit: Kit,
    database_factory: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server reads a frozen copy of the CRL: revocations never reach it.
    frozen = tmp_path / "frozen.crl"
    shutil.copy(kit.issuer_dir / "crl" / "auth_ca.crl", frozen)
    phones = kit.issuer_dir / "crl" / "phone_auth_ca.crl"
    monkeypatch.setattr(scenarios, "RELOAD_WAIT_S", 1.0)
    deps, token = serve_kit(kit, database_factory, crl_files=[frozen, phones])
    for results in run_against(kit, deps, token):
        by_id = {r.scenario.id: r for r in results}
        assert by_id["revoked"].outcome is Outcome.FAILED
        assert by_id["revoked"].reason == (
            "expected refusal Q1005, got an answer (QualificationValidity 1)"
        )
        assert [r.scenario.id for r in results if r.outcome is Outcome.FAILED] == ["revoked"]
        junit = tmp_path / "conformance.xml"
        write_junit(results, junit)
        assert 'failures="1"' in junit.read_text()
        assert "revoked" in table(results)


def test_the_project_connector_passes_the_folder_scenarios(
    kit: Kit, database_factory: Callable[[str], str], tmp_path: Path
) -> None:
    deps, token = serve_kit(kit, database_factory)
    folder = tmp_path / "connector"
    (folder / "req").mkdir(parents=True)
    stop = threading.Event()
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, token)
        worker = threading.Thread(
            target=run_connector,
            args=(folder, client),
            kwargs={"poll_interval_s": 0.05, "stop": stop, "settle_s": 0.05},
            daemon=True,
        )
        worker.start()
        try:
            results = run_catalogue(FolderContext(folder, CLINIC), CONNECTOR_CATALOGUE)
        finally:
            stop.set()
            worker.join(timeout=10)
            client.close()
    print(table(results))
    assert [(r.scenario.id, r.reason) for r in results if r.outcome is not Outcome.PASSED] == []
    assert len(results) == len(CONNECTOR_CATALOGUE) == 7
