"""Settings of the card issuer tools (environment variables prefixed `ONSHI_`)."""

from __future__ import annotations

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from onshi_kernel.settings import OnshiSettings


class IssuerSettings(OnshiSettings):
    """`ONSHI_PSEUDONYM_KEY` (hex, ≥ 16 bytes) must be shared with the insurer registry.

    The development key is refused unless `ONSHI_ENV=development` (unset means production).
    """

    model_config = SettingsConfigDict(extra="ignore")

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
        if not self.is_development and self.pseudonym_key_bytes == DEVELOPMENT_PSEUDONYM_KEY:
            raise ValueError(
                self.development_default_refused("ONSHI_PSEUDONYM_KEY", "development key")
            )
        return self

    @property
    def pseudonym_key_bytes(self) -> bytes:
        return bytes.fromhex(self.pseudonym_key.get_secret_value())
