"""The conformance kit against this project's own server: everything passes; and when the
server breaks an expectation, the kit names the scenario and the reason."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.conformance import scenarios
from clinic_client.conformance.connector_mode import CONNECTOR_CATALOGUE, FolderContext
from clinic_client.conformance.insurer_api import InsurerApi
from clinic_client.conformance.kit import INSURER_A, Kit, member_row, residents_of
from clinic_client.conformance.runner import Outcome, run_catalogue, table, write_junit
from clinic_client.conformance.scenarios import CATALOGUE, Context, Scenario
from clinic_client.connector import run_connector
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.api.app import create_app
from tests.conformance.support import CLINIC, Served, insurer_api, serve_kit
from tests.support.desk import ServerThread

pytestmark = pytest.mark.db


def run_against(
    kit: Kit, served: Served, catalogue: Sequence[Scenario] = CATALOGUE
) -> Iterator[list]:  # type: ignore[type-arg]
    with (
        ServerThread(create_app(served.deps, seal_interval_s=None)) as server,
        insurer_api(kit, served) as insurer,
    ):
        client = QualificationClient(server.url, served.token)
        context = Context(client=client, server_url=server.url,
                          run=kit.start_run(DEVELOPMENT_PSEUDONYM_KEY),
                          issuer=kit.issuer(DEVELOPMENT_PSEUDONYM_KEY),
                          residents=residents_of(kit.seed),
                          device=("kit-face", kit.device_key()), insurer=insurer)  # fmt: skip
        yield run_catalogue(context, catalogue)
        client.close()


def test_the_project_server_passes_every_scenario(
    kit: Kit,
    database_factory: Callable[[str], str],
    tmp_path: Path,
) -> None:
    for results in run_against(kit, serve_kit(kit, database_factory)):
        print(table(results))
        failed = [(r.scenario.id, r.reason) for r in results if r.outcome is not Outcome.PASSED]
        assert failed == []
        assert len(results) == len(CATALOGUE) == 31
        junit = tmp_path / "conformance.xml"
        write_junit(results, junit)
        text = junit.read_text()
        assert 'tests="31"' in text and 'failures="0"' in text and 'skipped="0"' in text


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
    for results in run_against(kit, serve_kit(kit, database_factory, crl_files=[frozen, phones])):
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
    served = serve_kit(kit, database_factory)
    folder = tmp_path / "connector"
    (folder / "req").mkdir(parents=True)
    stop = threading.Event()
    with ServerThread(create_app(served.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, served.token)
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


def test_a_registration_a_failed_run_left_open_is_ended_before_the_next(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    # A run that failed half-way leaves its held registration open: the next run's would
    # overlap it. Each insurer-side scenario ends such a one on its first day, then passes.
    served = serve_kit(kit, database_factory)
    residents = residents_of(kit.seed)
    with insurer_api(kit, served) as insurer, InsurerApi(insurer.url, insurer.credential) as api:
        left = {
            label: api.register(
                member_row(residents[label], INSURER_A, f"6{n}", "20250101", Name="誤登 太郎")
            )
            for n, label in enumerate(("corrected", "released"))
        }
    assert [r.body["Linkage"]["Status"] for r in left.values()] == ["held", "held"]
    chosen = [s for s in CATALOGUE if s.id in ("linkage-correction", "linkage-release")]
    for results in run_against(kit, served, chosen):
        assert [(r.scenario.id, r.outcome, r.reason) for r in results] == [
            ("linkage-correction", Outcome.PASSED, ""),
            ("linkage-release", Outcome.PASSED, ""),
        ]
    with insurer_api(kit, served) as insurer, InsurerApi(insurer.url, insurer.credential) as api:
        for label, reply in left.items():
            found = api.search({"MyNumber": residents[label].my_number}).body["Members"]
            by_id = {m["QualificationId"]: m for m in found}
            assert by_id[reply.body["QualificationId"]]["DisqualificationDate"] == "20250101"
            # and the run's own registration ended on the day it began
            assert len(found) == 2
            assert all(m["DisqualificationDate"] == m["QualificationDate"] for m in found)
