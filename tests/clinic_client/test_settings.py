"""The desk's settings on the kernel's base: its own variables under `ONSHI_CLINIC_`, where it
runs under the `ONSHI_ENV` every process shares."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from clinic_client.cli import app
from clinic_client.settings import ClinicSettings


def test_the_desk_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHI_CLINIC_SERVER_URL", "https://onshi.example")
    monkeypatch.setenv("ONSHI_CLINIC_TOKEN", "1310000017.secret")
    monkeypatch.setenv("ONSHI_CLINIC_CONNECTOR_DIR", "/srv/oqs")
    settings = ClinicSettings()
    assert settings.server_url == "https://onshi.example"
    assert settings.token.get_secret_value() == "1310000017.secret"
    assert settings.connector_dir == Path("/srv/oqs")
    assert (settings.reader, settings.device_id) == (None, "front-desk-1")


def test_where_the_desk_runs_is_onshi_env_not_a_clinic_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "test")
    monkeypatch.setenv("ONSHI_CLINIC_ENV", "development")
    assert ClinicSettings().env == "test"
    monkeypatch.delenv("ONSHI_ENV")
    assert ClinicSettings().env == "production"  # unset means production, as everywhere


def test_the_settings_are_frozen() -> None:
    settings = ClinicSettings()
    with pytest.raises(ValidationError):
        settings.server_url = "http://elsewhere"  # type: ignore[misc]


def test_a_setting_that_does_not_validate_ends_the_command_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "staging-1310000017.secret")
    result = CliRunner().invoke(app, ["connector", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "clinic: settings: ONSHI_ENV: Input should be 'development'" in result.output
    assert "1310000017.secret" not in result.output  # the value is never repeated
