"""`qualification-server clinic …` on a fresh clone: the tables are made before anything else
needs them, and `clinic device-key` makes a face reader's key without openssl by hand."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from typer.testing import CliRunner

from qualification_server import cli
from tests.support.world import CLINIC, World

BIN = Path(sys.executable).parent


def admin(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`qualification-server ARGS` as a newcomer runs it: a real process."""
    env = {**os.environ, "ONSHI_ENV": "development", "DATABASE_URL": database_url}
    return subprocess.run(
        [str(BIN / "qualification-server"), *args], env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip


def test_clinic_add_on_a_fresh_database_creates_the_tables_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    added = admin(url, "clinic", "add", CLINIC, "霞が関クリニック")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().startswith(f"{CLINIC}.")
    assert "Traceback" not in added.stderr
    listed = admin(url, "clinic", "list")
    assert listed.returncode == 0 and f"{CLINIC}\t霞が関クリニック" in listed.stdout


def test_every_administration_command_works_before_anything_else(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert admin(url, "clinic", "list").returncode == 0
    assert admin(url, "verify-log").returncode == 0
    unknown = admin(url, "clinic", "disable", CLINIC)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


@pytest.mark.db
def test_device_key_writes_a_private_key_only_its_owner_reads_and_registers_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", world.deps.settings.database_url)
    out = tmp_path / "keys" / "face-2.pem"
    done = CliRunner().invoke(
        cli.app, ["clinic", "device-key", CLINIC, "face-2", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = load_pem_private_key(out.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert f"ONSHI_CLINIC_DEVICE_KEY_FILE={out}" in done.output
    # the registered key is the written one: a face check it proves is answered
    world.register("yamada-taro")
    world.device_key = key
    response = world.client.post(
        "/v1/eligibility/card", json=world.face_body("yamada-taro", "face-2"),
        headers=world.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["MessageBody"]["QualificationValidity"] == "1"


@pytest.mark.db
def test_device_key_overwrites_no_file_and_leaves_no_key_for_a_refused_registration(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", world.deps.settings.database_url)
    existing = tmp_path / "kept.pem"
    existing.write_text("mine")
    runner = CliRunner()
    refused = runner.invoke(
        cli.app, ["clinic", "device-key", CLINIC, "face-3", "--out", str(existing)]
    )
    assert refused.exit_code == 1 and existing.read_text() == "mine"
    taken = tmp_path / "taken.pem"  # face-1 is the world's reader already
    refused = runner.invoke(
        cli.app, ["clinic", "device-key", CLINIC, "face-1", "--out", str(taken)]
    )
    assert refused.exit_code == 1 and "already has a device" in refused.output
    assert not taken.exists()
