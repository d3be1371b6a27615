"""The qualification server's settings: one validated object from the environment.

`DATABASE_URL` (unprefixed) selects the server's database; everything else is `ONSHI_…`.
Outside development (`ONSHI_ENV`), development secrets are refused.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from insurer_registry.db import with_psycopg3

DEVELOPMENT = "development"
DEFAULT_DATABASE_URL = "sqlite:///var/qualification.db"
DEVELOPMENT_CHALLENGE_KEY = "onshi-development-challenge-key-not-for-production"
FIXTURE_ISSUER = Path("fixtures/issuer")


class Settings(BaseSettings):
    """Configuration of the qualification server."""

    model_config = SettingsConfigDict(
        env_prefix="ONSHI_", populate_by_name=True, frozen=True, hide_input_in_errors=True
    )

    env: str = DEVELOPMENT
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    registry_database_url: str = Field(
        default="sqlite:///var/registry.db",
        description="the insurer registry's database, read through its lookup interface",
    )
    registry_url: str | None = Field(
        default=None, description="use the registry's network lookup instead of its database"
    )
    registry_token: SecretStr | None = None
    jpki_ca_files: list[Path] = Field(default=[FIXTURE_ISSUER / "ca" / "auth_ca.pem"])
    jpki_crl_files: list[Path] = Field(default=[FIXTURE_ISSUER / "crl" / "auth_ca.crl"])
    issuer_directory_files: list[Path] = Field(default=[FIXTURE_ISSUER / "directory.json"])
    challenge_key: SecretStr = SecretStr(DEVELOPMENT_CHALLENGE_KEY)
    challenge_ttl_s: int = Field(default=120, ge=5, le=600)
    insured_lookups_per_minute: int = Field(default=60, ge=1)
    batch_max_entries: int = Field(default=2000, ge=1, description="entries in one batch")
    max_request_bytes: int = Field(
        default=1 << 20, ge=16_384, description="larger bodies are refused unread (413)"
    )
    batch_entries_per_day: int = Field(default=10_000, ge=1, description="per clinic")
    unmatched_lookups_per_hour: int = Field(
        default=100, ge=1, description="answers 'no such insured number' per clinic"
    )
    worker_threads: int = Field(default=4, ge=1, le=64, description="request threads per worker")

    @field_validator("database_url", "registry_database_url")
    @classmethod
    def _use_psycopg3(cls, value: str) -> str:
        return with_psycopg3(value)

    @field_validator("challenge_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < 32:
            raise ValueError("ONSHI_CHALLENGE_KEY must be at least 32 bytes")
        return value

    @model_validator(mode="after")
    def _no_development_secrets_outside_development(self) -> Settings:
        if self.env == DEVELOPMENT:
            return self
        if self.challenge_key_bytes == DEVELOPMENT_CHALLENGE_KEY.encode():
            raise ValueError(
                f"ONSHI_ENV={self.env}: set ONSHI_CHALLENGE_KEY, the development key is refused"
            )
        # The committed test CA's key is public: trusting it would accept anyone's card.
        fixtures = FIXTURE_ISSUER.resolve()
        for name in ("jpki_ca_files", "jpki_crl_files", "issuer_directory_files"):
            for path in getattr(self, name):
                if path.resolve().is_relative_to(fixtures):
                    raise ValueError(
                        f"ONSHI_ENV={self.env}: ONSHI_{name.upper()} names the test issuer in "
                        f"{FIXTURE_ISSUER}, which is refused outside development"
                    )
        return self

    @property
    def challenge_key_bytes(self) -> bytes:
        return self.challenge_key.get_secret_value().encode()
