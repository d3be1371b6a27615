"""The front desk's settings (environment variables prefixed `ONSHI_CLINIC_`), on the
kernel's base: `ONSHI_ENV` says where the desk runs, as for every onshi process (the desk has
no development default to refuse, so it only reads it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from onshi_kernel.settings import OnshiSettings


class ClinicSettings(OnshiSettings):
    """Where the qualification server is, this clinic's credential, and the reader."""

    # By name, `env` would also be read from ONSHI_CLINIC_ENV: only ONSHI_ENV says where it runs.
    model_config = SettingsConfigDict(
        env_prefix="ONSHI_CLINIC_", populate_by_name=False, validate_by_name=False
    )

    server_url: str = "http://127.0.0.1:8300"
    token: SecretStr = Field(default=SecretStr(""), description="<医療機関コード>.<secret>")
    reception_key: SecretStr = Field(
        default=SecretStr(""), description="the reader page posts its check-ins with it"
    )
    reader: str | None = Field(default=None, description="PC/SC reader name; default: any")
    device_id: str = Field(default="front-desk-1", description="registered face-check device")
    device_key_file: Path | None = Field(
        default=None, description="the device's Ed25519 private key (PEM), for face/visual mode"
    )
    connector_dir: Path | None = Field(
        default=None, description="write a face result file here after each card check"
    )
    reception_url: str | None = Field(
        default=None,
        description="the reception terminal (`clinic serve`): the reader page posts each "
        "finished check to {reception_url}/api/check-ins; unset: nothing is posted",
    )
    # The portal page checks each access record against these, never against keys the server
    # sends: a rewritten log could come with keys of its own (docs/portal.md).
    log_key: str | None = Field(
        default=None, description="the access log's verifier key (C2SP key string), as published"
    )
    log_witness_keys: list[str] = Field(
        default=[], description="the witnesses' verifier keys (a JSON list), as published"
    )
    log_receipts_file: Path | None = Field(
        default=Path("var/clinic/log-receipts.jsonl"),
        description="where every answer's log receipt is kept for `clinic log "
        "check-receipts` (no personal data); empty: not kept",
    )
    log_origin: str | None = Field(
        default=None, description="the access log's origin line; unset: any origin the key signs"
    )

    @field_validator("log_receipts_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # ONSHI_CLINIC_LOG_RECEIPTS_FILE= (empty) turns keeping receipts off.
        return None if value == "" else value
