"""The qualification server's settings: one validated object from the environment.

`DATABASE_URL` (unprefixed) selects the server's database; everything else is `ONSHI_…`.
Outside development (`ONSHI_ENV`; unset means production) the development challenge key, the
generated access log key (`ONSHI_LOG_SIGNING_KEY_FILE` must be set) and the committed test
issuer (recognised by content, `trust.test_material`) are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from onshi_kernel.db import with_psycopg3
from onshi_kernel.settings import OnshiSettings
from qualification_server.trust.production import refuse_test_files
from qualification_server.trust.test_material import CommittedTestMaterial

DEFAULT_DATABASE_URL = "sqlite:///var/qualification.db"
DEVELOPMENT_CHALLENGE_KEY = "onshi-development-challenge-key-not-for-production"
FIXTURE_ISSUER = Path("fixtures/issuer")
DEFAULT_LOG_ORIGIN = "onshi.local/access-log"
DEVELOPMENT_LOG_KEY_FILE = Path("var/access-log-signing.key")


class Settings(OnshiSettings):
    """Configuration of the qualification server."""

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
    jpki_smartphone_ca_files: list[Path] = Field(
        default=[FIXTURE_ISSUER / "ca" / "phone_auth_ca.pem"],
        description="the CAs of smartphones' certificates (スマホ用電子証明書): trusted like the "
        "cards' CAs, their certificates recorded as a smartphone's and given no expiry grace; "
        "unset, the committed test CA in development and none outside it",
    )
    jpki_crl_files: list[Path] = Field(
        default=[
            FIXTURE_ISSUER / "crl" / "auth_ca.crl",
            FIXTURE_ISSUER / "crl" / "phone_auth_ca.crl",
        ]
    )
    issuer_directory_files: list[Path] = Field(default=[FIXTURE_ISSUER / "directory.json"])
    challenge_key: SecretStr = SecretStr(DEVELOPMENT_CHALLENGE_KEY)
    challenge_ttl_s: int = Field(default=120, ge=5, le=600)
    visual_passcode_ttl_s: int = Field(
        default=600,
        ge=30,
        le=3600,
        description="a 目視確認用パスコード answers a visual check this long after it is issued",
    )
    insured_lookups_per_minute: int = Field(default=60, ge=1)
    batch_max_entries: int = Field(default=2000, ge=1, description="entries in one batch")
    max_request_bytes: int = Field(
        default=1 << 20, ge=16_384, description="larger bodies are refused unread (413)"
    )
    batch_entries_per_day: int = Field(default=10_000, ge=1, description="per clinic")
    batch_retention_hours: int = Field(
        default=7 * 24, ge=1, description="a batch's result is kept this long after it is done"
    )
    unmatched_lookups_per_hour: int = Field(
        default=100, ge=1, description="answers 'no such insured number' per clinic"
    )
    worker_threads: int = Field(default=4, ge=1, le=64, description="request threads per worker")
    log_origin: str = Field(
        default=DEFAULT_LOG_ORIGIN,
        min_length=1,
        pattern=r"^[^\s+]+$",
        description="the access log's checkpoint origin (its first line) and its key's name",
    )
    log_signing_key_file: Path | None = Field(
        default=None,
        description="a file holding the access log's checkpoint key, a note signer key string "
        "(PRIVATE+KEY+…); unset, a development key generated under var/ in development only",
    )
    log_checkpoint_interval_s: float = Field(
        default=10.0, gt=0, description="a checkpoint is signed this often, if the log grew"
    )
    log_witness_urls: list[str] = Field(
        default=[], description="the witnesses each checkpoint is submitted to for cosigning"
    )
    log_witness_keys: list[str] = Field(
        default=[],
        description="the witnesses' cosignature verifier keys (<name>+<id>+<key>): verify-log "
        "then counts a witnessed checkpoint only with a valid cosignature by one of them",
    )

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
        if self.is_development:
            return self
        if self.challenge_key_bytes == DEVELOPMENT_CHALLENGE_KEY.encode():
            raise ValueError(
                self.development_default_refused("ONSHI_CHALLENGE_KEY", "development key")
            )
        if self.log_signing_key_file is None:
            raise ValueError(
                self.development_default_refused(
                    "ONSHI_LOG_SIGNING_KEY_FILE", "generated development log key"
                )
            )
        if "jpki_smartphone_ca_files" not in self.model_fields_set:
            # Unset outside development: no smartphone CA (a deployment names its own), rather
            # than the committed test one to refuse.
            object.__setattr__(self, "jpki_smartphone_ca_files", [])  # the model is frozen
        # The committed test CA's key is public: trusting it would accept anyone's card.
        checks: tuple[tuple[str, Literal["ca", "crl", "directory"], list[Path]], ...] = (
            ("ONSHI_JPKI_CA_FILES", "ca", self.jpki_ca_files),
            ("ONSHI_JPKI_SMARTPHONE_CA_FILES", "ca", self.jpki_smartphone_ca_files),
            ("ONSHI_JPKI_CRL_FILES", "crl", self.jpki_crl_files),
            ("ONSHI_ISSUER_DIRECTORY_FILES", "directory", self.issuer_directory_files),
        )
        for variable, kind, paths in checks:
            try:
                refuse_test_files(kind, paths)
            except CommittedTestMaterial as exc:
                raise ValueError(
                    self.development_default_refused(variable, f"committed test issuer ({exc})")
                ) from None
        return self

    @property
    def challenge_key_bytes(self) -> bytes:
        return self.challenge_key.get_secret_value().encode()

    @property
    def log_key_file(self) -> Path:
        """Where the access log's checkpoint key is read (the development one when unset,
        which validation allows in development only)."""
        return self.log_signing_key_file or DEVELOPMENT_LOG_KEY_FILE
