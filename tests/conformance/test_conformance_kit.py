"""The conformance kit against this project's own server: everything passes; and when the
server breaks an expectation, the kit names the scenario and the reason."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.conformance import scenarios
from clinic_client.conformance.connector_mode import CONNECTOR_CATALOGUE, FolderContext
from clinic_client.conformance.kit import Kit
from clinic_client.conformance.runner import Outcome, run_catalogue, table, write_junit
from clinic_client.conformance.scenarios import CATALOGUE, Context
from clinic_client.connector import run_connector
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.api.app import create_app
from qualification_server.api.dependencies import Dependencies
from tests.conformance.support import CLINIC, serve_kit
from tests.support.desk import ServerThread

pytestmark = pytest.mark.db


def run_against(kit: Kit, deps: Dependencies, token: str) -> Iterator[list]:  # type: ignore[type-arg]
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, token)
        context = Context(client=client, server_url=server.url,
                          run=kit.start_run(DEVELOPMENT_PSEUDONYM_KEY),
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
