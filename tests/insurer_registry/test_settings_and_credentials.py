"""Settings refuse development secrets outside development; credentials are checked by
digest and kind."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from insurer_registry.insurers import credentials
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.settings import DEFAULT_DATABASE_URL, Settings
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY


def test_development_asked_for_by_name_runs_on_sqlite_and_the_development_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "ONSHI_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONSHI_ENV", "development")
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.pseudonym_bytes == DEVELOPMENT_PSEUDONYM_KEY


def test_an_unset_env_means_production_and_refuses_the_development_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ONSHI_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("ONSHI_ENV", raising=False)
    with pytest.raises(ValidationError, match="ONSHI_ENV is not set, which means production"):
        Settings()


def test_development_key_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONSHI_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("ONSHI_ENV", "production")
    with pytest.raises(ValidationError, match="development key is refused"):
        Settings()


def test_production_runs_with_its_own_key_and_register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHI_ENV", "production")
    monkeypatch.setenv("ONSHI_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("ONSHI_RESIDENT_REGISTER_FILES", '["/srv/issuer/register.json"]')
    assert Settings().pseudonym_bytes == bytes.fromhex("ab" * 32)


def test_the_test_issuers_register_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "production")
    monkeypatch.setenv("ONSHI_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("ONSHI_RESIDENT_REGISTER_FILES", raising=False)
    with pytest.raises(ValidationError, match="ONSHI_RESIDENT_REGISTER_FILES"):
        Settings()


def test_a_bad_key_is_refused_without_being_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHI_PSEUDONYM_KEY", "not-hex-secret-value")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "not-hex-secret-value" not in str(raised.value)


def test_plain_postgresql_url_uses_psycopg3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    assert Settings().database_url == "postgresql+psycopg://root@127.0.0.1:5432/test"


def test_minted_credential_matches_only_its_own_secret() -> None:
    issued = credentials.mint(CredentialKind.INSURER)
    presented = credentials.parse(issued.token)
    assert presented.kind is CredentialKind.INSURER
    assert credentials.matches(presented, issued.secret_digest)
    other = credentials.mint(CredentialKind.INSURER)
    assert not credentials.matches(presented, other.secret_digest)
    assert not credentials.matches(presented, None)


def test_only_the_digest_of_the_secret_is_kept() -> None:
    issued = credentials.mint(CredentialKind.NETWORK)
    secret = issued.token.split(".", 1)[1]
    assert issued.token.startswith(f"net_{issued.public_id}.")
    assert secret not in issued.secret_digest
    assert secret not in repr(issued)


@pytest.mark.parametrize("token", ["", "Bearer x", "ins_short.secret", "xyz_0123456789ab.s"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="not a registry credential"):
        credentials.parse(token)
