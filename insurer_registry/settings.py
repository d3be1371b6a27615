"""The registry's settings: one validated object, read from the environment.

`DATABASE_URL` (unprefixed) selects the database; everything else is `ONSHI_…`.
Outside development (`ONSHI_ENV`; unset means production), the development pseudonym key is
refused.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from insurer_registry.db import with_psycopg3
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from onshi_kernel.settings import OnshiSettings

DEFAULT_DATABASE_URL = "sqlite:///var/registry.db"
# The committed test issuer's resident register (card_reader.issuance writes it).
FIXTURE_REGISTER = Path("fixtures/issuer/register.json")
MIN_KEY_BYTES = 16


class Settings(OnshiSettings):
    """Configuration of the insurer registry."""

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PSEUDONYM_KEY.hex()),
        description="hex; the key of the person reference (HMAC-SHA-256 of the My Number)",
    )
    import_batch_rows: int = Field(default=5000, ge=1)
    resident_register_files: list[Path] = Field(
        default=[FIXTURE_REGISTER],
        description="the card issuer's resident register files (J-LIS's four items), which "
        "every registration is matched against; a missing file knows nobody, so every "
        "registration is held",
    )

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, value: str) -> str:
        return with_psycopg3(value)

    @field_validator("pseudonym_key")
    @classmethod
    def _key_is_hex(cls, value: SecretStr) -> SecretStr:
        try:
            key = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("ONSHI_PSEUDONYM_KEY must be hex") from None
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"ONSHI_PSEUDONYM_KEY must be at least {MIN_KEY_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _no_development_secrets_outside_development(self) -> Settings:
        if not self.is_development and self.pseudonym_bytes == DEVELOPMENT_PSEUDONYM_KEY:
            raise ValueError(
                self.development_default_refused("ONSHI_PSEUDONYM_KEY", "development key")
            )
        if not self.is_development and any(
            path.resolve() == FIXTURE_REGISTER.resolve() for path in self.resident_register_files
        ):
            # The committed test issuer's residents are public: matching real registrations
            # against them would hold every one, or worse, match a test person.
            raise ValueError(
                self.development_default_refused(
                    "ONSHI_RESIDENT_REGISTER_FILES", "test issuer's register"
                )
            )
        return self

    @property
    def pseudonym_bytes(self) -> bytes:
        """The pseudonym key as bytes."""
        return bytes.fromhex(self.pseudonym_key.get_secret_value())
