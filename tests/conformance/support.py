"""This project's server, set up as the kit's `init` tells a server operator: the registry
imports the kit's members, the server trusts the kit's CAs, CRLs and directory (reloaded
at once) and knows the kit's face-check device as `kit-face`."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clinic_client.conformance.kit import INSURER_A, INSURER_B, Kit
from insurer_registry import db as registry_db
from insurer_registry.lookup.local import RegistryQualificationSource
from qualification_server.api.dependencies import Dependencies
from qualification_server.clinics.service import register_clinic, register_device
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings
from qualification_server.trust.files import TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory

CLINIC = "1310000017"
BIN = Path(sys.executable).parent


def registry_cli(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([str(BIN / "insurer-registry"), *args], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def serve_kit(
    kit: Kit, make_db: Callable[[str], str], crl_files: list[Path] | None = None
) -> tuple[Dependencies, str]:
    registry_url = make_db("registry")
    registry_cli(registry_url, "insurer", "add", INSURER_A, "conformance A")
    registry_cli(registry_url, "insurer", "add", INSURER_B, "conformance B")
    registry_cli(registry_url, "import", str(kit.members_csv))
    issuer = kit.issuer_dir
    settings = Settings(
        database_url=make_db("server"),
        registry_database_url=registry_url,
        jpki_ca_files=[issuer / "ca" / "auth_ca.pem"],
        jpki_smartphone_ca_files=[issuer / "ca" / "phone_auth_ca.pem"],
        jpki_crl_files=crl_files
        or [issuer / "crl" / "auth_ca.crl", issuer / "crl" / "phone_auth_ca.crl"],
        issuer_directory_files=[issuer / "directory.json"],
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as s:
        token = register_clinic(session=s, code=CLINIC, name="conformance clinic", now=now)
        public = kit.device_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        register_device(session=s, clinic_code=CLINIC, device_id="kit-face", public_key=public,
                        now=now)  # fmt: skip
    deps = Dependencies(
        settings=settings,
        sessions=sessions,
        trust=TrustStore(
            settings.jpki_ca_files,
            settings.jpki_crl_files,
            check_interval_s=0,
            smartphone_ca_files=settings.jpki_smartphone_ca_files,
        ),
        directory=FileIssuerDirectory(settings.issuer_directory_files, check_interval_s=0),
        source=RegistryQualificationSource(
            registry_db.make_session_factory(registry_db.make_engine(registry_url))
        ),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    return deps, token
