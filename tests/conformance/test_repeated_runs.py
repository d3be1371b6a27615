"""The kit as a vendor runs it, `conformance run` in its own process: against one server,
configured once, it passes run after run (each run issues its own cards); and when it cannot
start (a refused credential, no server, no kit) it says why in one line and exits 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.conformance.kit import Kit
from clinic_client.conformance.runner import Unreachable, run_catalogue
from clinic_client.conformance.scenarios import CATALOGUE, Context
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.api.app import create_app
from tests.conformance.support import CLINIC, serve_kit
from tests.support.desk import ServerThread

pytestmark = pytest.mark.db
CONFORMANCE = Path(sys.executable).parent / "conformance"
WRONG = "conformance: the server refused the clinic credential (Q5001): check --clinic-credential"


def conformance(*args: str | Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONSHI_ENV": "development", **env_vars}
    return subprocess.run([str(CONFORMANCE), "run", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def free_port() -> int:
    """A local port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_kit_passes_three_runs_in_a_row_against_one_server(
    kit: Kit, database_factory: Callable[[str], str], tmp_path: Path
) -> None:
    deps, token = serve_kit(kit, database_factory)
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
        for n in (1, 2, 3):
            junit = tmp_path / f"run{n}.xml"
            started = time.monotonic()
            done = conformance("--kit", kit.root, "--server", server.url,
                               "--clinic-credential", token, "--device-id", "kit-face",
                               "--junit", junit)  # fmt: skip
            print(f"run {n}: {time.monotonic() - started:.1f} s\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"run {n}: fresh cards in {kit.runs_dir / f'{n:04d}' / 'cards'}" in done.stdout
            assert f"{len(CATALOGUE)} passed, 0 failed, 0 not run" in done.stdout
            assert f'tests="{len(CATALOGUE)}"' in junit.read_text()
            assert 'failures="0"' in junit.read_text()
    # the server's trust files are the same paths throughout; each run's cards are its own
    assert sorted(d.name for d in kit.runs_dir.iterdir()) == ["0001", "0002", "0003"]


def test_a_wrong_credential_stops_the_run_with_one_message(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    deps, _ = serve_kit(kit, database_factory)
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
        done = conformance("--kit", kit.root, "--server", server.url,
                           "--clinic-credential", f"{CLINIC}.not-the-secret")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == WRONG
    assert done.stdout == ""  # no table of failures, no cards issued
    assert not kit.runs_dir.exists()


def test_another_pseudonym_key_or_a_run_under_way_stops_before_issuing_cards(
    kit: Kit, database_factory: Callable[[str], str]
) -> None:
    deps, token = serve_kit(kit, database_factory)
    with ServerThread(create_app(deps, seal_interval_s=None)) as server:
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
                      issuer=kit.issuer(DEVELOPMENT_PSEUDONYM_KEY))  # fmt: skip
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
