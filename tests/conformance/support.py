"""This project's server, set up as the kit's `init` tells a server operator: the registry
reads the kit's resident register, imports the kit's members and gives INSURER_A two
credentials, the server trusts the kit's CAs, CRLs and directory (reloaded at once) and
knows the kit's face-check device as `kit-face`; and the registry's insurer API, which the
kit's insurer-side scenarios call."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clinic_client.conformance.insurer_api import InsurerAccess
from clinic_client.conformance.kit import INSURER_A, INSURER_B, Kit
from insurer_registry import db as registry_db
from insurer_registry.api.app import create_app as create_registry_app
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.settings import Settings as RegistrySettings
from onshi_kernel.four_items import FileResidentRegister
from qualification_server.api.dependencies import Dependencies
from qualification_server.clinics.service import register_clinic, register_device
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings
from qualification_server.trust.files import TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory
from tests.support.desk import ServerThread

CLINIC = "1310000017"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Served:
    """The server's dependencies and clinic credential; the registry's database and the two
    credentials of INSURER_A its CLI printed."""

    deps: Dependencies
    token: str
    registry_url: str
    insurer_credentials: tuple[str, str]


def registry_cli(url: str, register: Path, *args: str) -> str:
    """Run `insurer-registry` as the kit's `init` says (with the kit's resident register);
    its standard output (a credential, for `insurer add` and `insurer credential`)."""
    env = {**os.environ, "DATABASE_URL": url,
           "ONSHI_RESIDENT_REGISTER_FILES": json.dumps([str(register)])}  # fmt: skip
    done = subprocess.run([str(BIN / "insurer-registry"), *args], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def serve_kit(
    kit: Kit, make_db: Callable[[str], str], crl_files: list[Path] | None = None
) -> Served:
    """Configure a registry and a server for `kit` (neither serving yet)."""
    registry_url = make_db("registry")
    register = kit.register_file
    first = registry_cli(registry_url, register, "insurer", "add", INSURER_A, "conformance A")
    second = registry_cli(registry_url, register, "insurer", "credential", INSURER_A)
    registry_cli(registry_url, register, "insurer", "add", INSURER_B, "conformance B")
    registry_cli(registry_url, register, "import", str(kit.members_csv))
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
    return Served(deps, token, registry_url, (first, second))


@contextmanager
def insurer_api(kit: Kit, served: Served) -> Iterator[InsurerAccess]:
    """The registry's HTTP API on the served registry's database, matching against the
    kit's register, in a thread; what the kit needs to call it as INSURER_A."""
    settings = RegistrySettings(database_url=served.registry_url)
    app = create_registry_app(settings, register=FileResidentRegister([kit.register_file]))
    with ServerThread(app) as registry:
        yield InsurerAccess(registry.url, *served.insurer_credentials)
