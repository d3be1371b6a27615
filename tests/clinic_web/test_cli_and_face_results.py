"""`clinic verify` and `clinic lookup` as scripts use them, and the face results a card
check leaves for the receipt computer (`face/`, docs/file-interface.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from card_reader.pcscd import Pcscd
from clinic_client.cli import app
from onshi_kernel.japan_time import japan_today, yyyymmdd
from qualification_server.api.app import create_app
from tests.support.desk import READER, Desk, ServerThread
from tests.support.world import World

pytestmark = [pytest.mark.db, pytest.mark.pcsc]
runner = CliRunner()


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as running:
        yield running.url


@pytest.fixture
def clinic_env(world: World, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    connector = tmp_path / "connector"
    connector.mkdir()
    monkeypatch.setenv("ONSHI_CLINIC_SERVER_URL", server)
    monkeypatch.setenv("ONSHI_CLINIC_TOKEN", world.clinic_token)
    monkeypatch.setenv("ONSHI_CLINIC_READER", READER)
    monkeypatch.setenv("ONSHI_CLINIC_CONNECTOR_DIR", str(connector))
    return connector


def test_lookup_prints_json(clinic_env: Path) -> None:
    args = ["lookup", "--insurer", "01130012", "--symbol", "記号12", "--number", "1001",
            "--birthdate", "19800401", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["MessageBody"]["QualificationValidity"] == "1"


def test_lookup_asks_about_the_day_in_japan_whatever_the_hosts_zone(
    clinic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host set to UTC-12 is on another day than Japan (UTC+9) for 21 hours of 24."""
    monkeypatch.setenv("TZ", "Etc/GMT+12")
    time.tzset()
    try:
        args = ["lookup", "--insurer", "01130012", "--symbol", "記号12", "--number", "1001",
                "--birthdate", "19800401", "--json"]  # fmt: skip
        result = runner.invoke(app, args)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert result.exit_code == 0, result.output
    header = json.loads(result.output)["MessageHeader"]
    assert header["QualificationConfirmationDate"] == yyyymmdd(japan_today())


def test_lookup_with_a_wrong_birth_date_says_so(clinic_env: Path) -> None:
    result = runner.invoke(app, ["lookup", "--insurer", "01130012", "--number", "1001",
                                 "--birthdate", "19800402"])  # fmt: skip
    assert result.exit_code == 2
    assert "Q4001" in result.output


def test_verify_with_pin_writes_a_face_result(clinic_env: Path, desk: Desk, pcscd: Pcscd) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    result = runner.invoke(app, ["verify", "--pin", "1234"])
    assert result.exit_code == 0, result.output
    assert "山田 太郎" in result.output and "QualificationValidity: 1" in result.output
    (face,) = (clinic_env / "face").glob("OQSsiquc01res_face_*.xml")
    assert "山田 太郎" in face.read_text(encoding="utf-8")


def test_verify_with_a_wrong_pin_exits_with_the_tries_left(
    clinic_env: Path, desk: Desk, pcscd: Pcscd
) -> None:
    desk.world.register("yamada-taro")
    desk.insert("yamada-taro")
    result = runner.invoke(app, ["verify", "--pin", "0000"])
    assert result.exit_code == 2
    assert "wrong-pin" in result.output and "2 tries left" in result.output
