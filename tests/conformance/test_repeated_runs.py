"""The kit as a vendor runs it, `conformance run` in its own process: against one server,
configured once, it passes run after run (each run issues its own cards); and when it cannot
start (a refused credential, no server, no kit) it says why in one line and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.conformance.kit import INSURER_B, PEOPLE, Kit, residents_of
from clinic_client.conformance.runner import Outcome, Unreachable, run_catalogue
from clinic_client.conformance.scenarios import CATALOGUE, Context
from onshi_kernel.four_items import parse_register
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.api.app import create_app
from tests.conformance.support import CLINIC, insurer_api, registry_cli, serve_kit
from tests.support.desk import ServerThread
from tests.support.ports import free_port

pytestmark = pytest.mark.db
CONFORMANCE = Path(sys.executable).parent / "conformance"
WRONG = "conformance: the server refused the clinic credential (Q5001): check --clinic-credential"


def conformance(*args: str | Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    return conformance_command("run", *args, **env_vars)


def conformance_command(
    command: str, *args: str | Path, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONSHI_ENV": "development", **env_vars}
    return subprocess.run([str(CONFORMANCE), command, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_the_kit_passes_three_runs_in_a_row_against_one_server(
    kit: Kit, database_factory: Callable[[str], str], tmp_path: Path
) -> None:
    served = serve_kit(kit, database_factory)
    with (
        ServerThread(create_app(served.deps, seal_interval_s=None)) as server,
        insurer_api(kit, served) as insurer,
    ):
        for n in (1, 2, 3):
            junit = tmp_path / f"run{n}.xml"
            started = time.monotonic()
            done = conformance("--kit", kit.root, "--server", server.url,
                               "--clinic-credential", served.token, "--device-id", "kit-face",
                               "--registry", insurer.url,
                               "--insurer-credential", insurer.credential,
                               "--second-insurer-credential", insurer.second_credential,
                               "--junit", junit)  # fmt: skip
            print(f"run {n}: {time.monotonic() - started:.1f} s\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"run {n}: fresh cards in {kit.runs_dir / f'{n:04d}' / 'cards'}" in done.stdout
            assert f"{len(CATALOGUE)} passed, 0 failed, 0 not run" in done.stdout
            assert f'tests="{len(CATALOGUE)}"' in junit.read_text()
            assert 'failures="0"' in junit.read_text() and 'skipped="0"' in junit.read_text()
    # the server's trust files are the same paths throughout; each run's cards are its own
    assert sorted(d.name for d in kit.runs_dir.iterdir()) == ["0001", "0002", "0003"]


def test_init_writes_the_register_and_says_to_give_it_to_the_registry_first(
    tmp_path: Path,
) -> None:
    root = tmp_path / "kit"
    done = conformance_command("init", root)
    assert done.returncode == 0, done.stderr
    register = root / "issuer" / "register.json"
    assert len(parse_register(register.read_text(encoding="utf-8"))) == len(PEOPLE)
    setting = f"ONSHI_RESIDENT_REGISTER_FILES='[\"{register}\"]'"
    assert setting in done.stdout
    assert done.stdout.index(setting) < done.stdout.index("insurer-registry import")
    assert "--second-insurer-credential" in done.stdout


def test_the_insurer_side_scenarios_are_not_run_without_the_registry(kit: Kit) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # never called: they stop before the server
    client = QualificationClient(url, f"{CLINIC}.x")
    context = Context(client=client, server_url=url, run=kit.start_run(DEVELOPMENT_PSEUDONYM_KEY),
                      issuer=kit.issuer(DEVELOPMENT_PSEUDONYM_KEY),
                      residents=residents_of(kit.seed))  # fmt: skip
    chosen = [s for s in CATALOGUE if s.id in ("linkage-correction", "linkage-release")]
    results = run_catalogue(context, chosen)
    client.close()
    assert [(r.scenario.id, r.outcome) for r in results] == [
        ("linkage-correction", Outcome.NOT_RUN),
        ("linkage-release", Outcome.NOT_RUN),
    ]
    assert all(r.reason.startswith("give --registry, --insurer-credential") for r in results)


def test_the_registry_and_its_credentials_are_checked_before_any_card(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    served = serve_kit(kit, database_factory)
    other = registry_cli(served.registry_url, kit.register_file, "insurer", "credential", INSURER_B)
    with (
        ServerThread(create_app(served.deps, seal_interval_s=None)) as server,
        insurer_api(kit, served) as insurer,
    ):

        def run(*registry: str) -> subprocess.CompletedProcess[str]:
            return conformance("--kit", kit.root, "--server", server.url,
                               "--clinic-credential", served.token, *registry)  # fmt: skip

        first = insurer.credential
        partial = run("--registry", insurer.url, "--insurer-credential", first)
        same = run("--registry", insurer.url, "--insurer-credential", first,
                   "--second-insurer-credential", first)  # fmt: skip
        wrong = run("--registry", insurer.url, "--insurer-credential", first,
                    "--second-insurer-credential", "ins_000000000000.not-a-secret")  # fmt: skip
        another = run("--registry", insurer.url, "--insurer-credential", other,
                      "--second-insurer-credential", first)  # fmt: skip
        gone = run("--registry", f"http://127.0.0.1:{free_port()}", "--insurer-credential",
                   first, "--second-insurer-credential", insurer.second_credential)  # fmt: skip
    messages = [done.stderr.strip() for done in (partial, same, wrong, another)]
    assert messages == [
        "conformance: give --registry, --insurer-credential and --second-insurer-credential "
        "together",
        "conformance: --insurer-credential and --second-insurer-credential are the same: "
        "releasing a held linkage takes two distinct users of the insurer",
        "conformance: the registry refused --second-insurer-credential (R4001): check it",
        "conformance: --insurer-credential does not see insured number 9921 at the registry: "
        "give a credential of 01130012, and import the kit's members.csv",
    ]
    assert gone.stderr.startswith("conformance: cannot reach the registry at http://127.0.0.1:")
    for done in (partial, same, wrong, another, gone):
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert "Traceback" not in done.stderr
    assert not kit.runs_dir.exists()  # stopped before this run's cards
    # neither credential nor the kit's secrets appear in what the kit printed
    assert all(first not in done.stderr for done in (same, wrong, another, gone))


def test_a_wrong_credential_stops_the_run_with_one_message(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    served = serve_kit(kit, database_factory)
    with ServerThread(create_app(served.deps, seal_interval_s=None)) as server:
        done = conformance("--kit", kit.root, "--server", server.url,
                           "--clinic-credential", f"{CLINIC}.not-the-secret")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == WRONG
    assert done.stdout == ""  # no table of failures, no cards issued
    assert not kit.runs_dir.exists()


def test_another_pseudonym_key_or_a_run_under_way_stops_before_issuing_cards(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    served = serve_kit(kit, database_factory)
    token = served.token
    with ServerThread(create_app(served.deps, seal_interval_s=None)) as server:
        done = conformance("--kit", kit.root, "--server", server.url, "--clinic-credential",
                           token, ONSHI_PSEUDONYM_KEY="ab" * 32)  # fmt: skip
        with kit.locked():  # another run holds the kit
            busy = conformance("--kit", kit.root, "--server", server.url,
                               "--clinic-credential", token)  # fmt: skip
    assert (busy.returncode, busy.stdout) == (2, "")
    assert busy.stderr.strip() == f"conformance: another `conformance run` is using {kit.root}"
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"conformance: {kit.root} was made with another ONSHI_PSEUDONYM_KEY: run with the key "
        "of `conformance init` (the one the server's registry shares)"
    )
    assert not kit.runs_dir.exists()


def test_a_server_gone_during_a_run_stops_it_at_that_scenario(kit: Kit) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = QualificationClient(url, f"{CLINIC}.x")
    context = Context(client=client, server_url=url, run=kit.start_run(DEVELOPMENT_PSEUDONYM_KEY),
                      issuer=kit.issuer(DEVELOPMENT_PSEUDONYM_KEY),
                      residents=residents_of(kit.seed))  # fmt: skip
    with pytest.raises(Unreachable) as gone:
        run_catalogue(context, CATALOGUE)
    client.close()
    assert gone.value.scenario == "registration"
    assert "(during registration)" in str(gone.value)


def test_an_unreachable_server_is_one_line_without_a_traceback(kit: Kit) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = conformance("--kit", kit.root, "--server", url, "--clinic-credential", f"{CLINIC}.x")
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"conformance: cannot reach the server at {url}: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("broken", ["missing", "not a kit", "incomplete"])
def test_a_missing_or_broken_kit_is_one_line_without_a_traceback(
    kit: Kit, tmp_path: Path, broken: str
) -> None:
    root = tmp_path / "nowhere"
    if broken == "not a kit":
        root.mkdir()
        (root / "kit.json").write_text("{}")
    elif broken == "incomplete":
        root = kit.root
        kit.device_key_file.unlink()
    done = conformance("--kit", root, "--server", "http://127.0.0.1:1",
                       "--clinic-credential", f"{CLINIC}.x")  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("conformance: ") and str(root) in line, line
    assert "Traceback" not in done.stderr
