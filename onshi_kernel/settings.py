"""The settings rule every onshi service and tool shares.

`ONSHI_ENV` says where a process runs. Unset, it means production: a process started without
it refuses every development default (the public challenge key, the public pseudonym key,
the committed test CA), so a forgotten variable fails closed instead of running on keys that
anyone can read. Development is asked for by name, `ONSHI_ENV=development`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]
DEVELOPMENT: Environment = "development"
PRODUCTION: Environment = "production"


class OnshiSettings(BaseSettings):
    """The base of every package's settings: `ONSHI_…` variables and the environment."""

    model_config = SettingsConfigDict(
        env_prefix="ONSHI_", populate_by_name=True, frozen=True, hide_input_in_errors=True
    )

    # Always `ONSHI_ENV`, whatever prefix a package's settings read (the clinic's is
    # `ONSHI_CLINIC_`): one variable says where every process of a machine runs.
    env: Environment = Field(
        default=PRODUCTION,
        validation_alias="ONSHI_ENV",
        description="development, test or production; unset means production (fail closed)",
    )

    @property
    def is_development(self) -> bool:
        """True only when development was asked for by name."""
        return self.env == DEVELOPMENT

    def development_default_refused(self, variable: str, what: str = "development default") -> str:
        """The message that refuses a development default outside development."""
        where = f"ONSHI_ENV={self.env}"
        if "env" not in self.model_fields_set:
            where = "ONSHI_ENV is not set, which means production"
        return (
            f"{where}: set {variable}, its {what} is refused outside development "
            "(ONSHI_ENV=development asks for the development defaults)"
        )
