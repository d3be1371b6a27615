"""The server refuses development secrets and the test CA outside development."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from qualification_server.settings import DEVELOPMENT_CHALLENGE_KEY, Settings

PRODUCTION_KEY = "k" * 40


def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    own = tmp_path / "own_ca.pem"
    own.write_text("-")
    defaults = {
        "ONSHI_ENV": "production",
        "ONSHI_CHALLENGE_KEY": PRODUCTION_KEY,
        "ONSHI_JPKI_CA_FILES": json.dumps([str(own)]),
        "ONSHI_JPKI_CRL_FILES": json.dumps([str(tmp_path / "own.crl")]),
        "ONSHI_ISSUER_DIRECTORY_FILES": json.dumps([str(tmp_path / "directory.json")]),
    }
    for name, value in {**defaults, **env}.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_development_runs_on_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONSHI_ENV", raising=False)
    assert Settings().challenge_key_bytes == DEVELOPMENT_CHALLENGE_KEY.encode()


def test_production_runs_with_its_own_key_and_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert production(monkeypatch, tmp_path).challenge_key_bytes == PRODUCTION_KEY.encode()


def test_the_development_challenge_key_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="ONSHI_CHALLENGE_KEY") as raised:
        production(monkeypatch, tmp_path, ONSHI_CHALLENGE_KEY=DEVELOPMENT_CHALLENGE_KEY)
    assert DEVELOPMENT_CHALLENGE_KEY not in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "fixture"),
    [
        ("ONSHI_JPKI_CA_FILES", "fixtures/issuer/ca/auth_ca.pem"),
        ("ONSHI_JPKI_CRL_FILES", "fixtures/issuer/crl/auth_ca.crl"),
        ("ONSHI_ISSUER_DIRECTORY_FILES", "fixtures/issuer/directory.json"),
    ],
)
def test_the_test_issuer_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, fixture: str
) -> None:
    with pytest.raises(ValidationError, match=variable):
        production(monkeypatch, tmp_path, **{variable: json.dumps([fixture])})


def test_a_short_challenge_key_is_refused_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes") as raised:
        production(monkeypatch, tmp_path, ONSHI_CHALLENGE_KEY="short-secret-value")
    assert "short-secret-value" not in str(raised.value)
