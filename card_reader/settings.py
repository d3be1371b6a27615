"""Settings of the card issuer tools (environment variables prefixed `ONSHI_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from card_reader.mynumber import DEVELOPMENT_PSEUDONYM_KEY


class IssuerSettings(BaseSettings):
    """`ONSHI_PSEUDONYM_KEY` (hex, ≥ 16 bytes) must be shared with the insurer registry.

    The development key is refused unless `ONSHI_ENV=development` (the default).
    """

    model_config = SettingsConfigDict(env_prefix="ONSHI_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    pseudonym_key: SecretStr = SecretStr(DEVELOPMENT_PSEUDONYM_KEY.hex())

    @field_validator("pseudonym_key")
    @classmethod
    def _hex_of_enough_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("ONSHI_PSEUDONYM_KEY must be hex") from None
        if len(raw) < 16:
            raise ValueError("ONSHI_PSEUDONYM_KEY must be at least 16 bytes")
        return value

    @model_validator(mode="after")
    def _no_default_secret_outside_development(self) -> IssuerSettings:
        if self.env != "development" and self.pseudonym_key_bytes == DEVELOPMENT_PSEUDONYM_KEY:
            raise ValueError(f"ONSHI_PSEUDONYM_KEY is the development key but ONSHI_ENV={self.env}")
        return self

    @property
    def pseudonym_key_bytes(self) -> bytes:
        return bytes.fromhex(self.pseudonym_key.get_secret_value())
