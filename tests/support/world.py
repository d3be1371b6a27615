"""A qualification server on a real database, a registry with insurers and members, and
emulated cards issued by a test CA: every flow runs with the real parts in process."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from card_reader.core.jpki import JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident, load_residents
from card_reader.transports.inprocess import InProcessConnection
from insurer_registry import db as registry_db
from insurer_registry.insurers.service import add_insurer
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    LimitCertificateClassification,
    LimitIncomeClass,
    PersonalFamilyClassification,
    ReasonOfLoss,
    Sex,
)
from insurer_registry.members.domain import LimitApplicationCertificate, MemberRecord
from insurer_registry.members.service import record_loss, register_member
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from onshi_kernel.numbers import InsurerNumber, complete_insurer_number
from qualification_server.api.app import create_app
from qualification_server.api.dependencies import Dependencies
from qualification_server.cards.proofs import Method, device_message
from qualification_server.clinics.service import register_clinic, register_device
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings
from qualification_server.trust.files import TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory

REPO = Path(__file__).resolve().parents[2]
PIN = "1234"
CLINIC = "1310000017"
OTHER_CLINIC = "2710000027"
KYOKAI = InsurerNumber(complete_insurer_number("0113001"))  # 協会けんぽ-like, 8 digits
KOKUHO = InsurerNumber(complete_insurer_number("13101"))  # 国保, 6 digits
D = dt.date


# --- databases: SQLite files, or throw-away PostgreSQL databases under DATABASE_URL ----------


class Databases:
    """Throw-away databases: SQLite files, or PostgreSQL databases under DATABASE_URL.

    `databases(name)` is an empty one. `databases.migrated(name, schema)` is one whose
    schema ("server" or "registry") is at head already: a copy of a template migrated once a
    session (a file copy; `CREATE DATABASE … TEMPLATE`), which spares every test its
    migrations. Everything made is dropped when the session ends."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        url = os.environ.get("DATABASE_URL", "").replace("postgresql://", "postgresql+psycopg://")
        self._base = make_url(url) if url else None
        self._created: list[str] = []
        self._templates: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        return self._make(name, template=None)

    def migrated(self, name: str, schema: str) -> str:
        if schema not in self._templates:
            template = self._make(f"template_{schema}", template=None)
            engine = (make_engine if schema == "server" else registry_db.make_engine)(template)
            (migrate if schema == "server" else registry_db.migrate)(engine)
            engine.dispose()  # a template may have no sessions when it is copied
            self._templates[schema] = template
        return self._make(name, template=self._templates[schema])

    def _make(self, name: str, *, template: str | None) -> str:
        tag = f"{name}_{uuid.uuid4().hex[:8]}"
        if self._base is None:
            path = self._folder / f"{tag}.db"
            if template is not None:
                source = Path(make_url(template).database or "")
                assert not source.with_name(f"{source.name}-wal").exists()  # all in the file
                shutil.copyfile(source, path)
            return f"sqlite:///{path}"
        db_name = f"onshi_qs_{tag}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self._admin() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"{copy}'))
        self._created.append(db_name)
        return self._base.set(database=db_name).render_as_string(hide_password=False)

    @contextmanager
    def _admin(self) -> Iterator[Connection]:
        assert self._base is not None
        admin = create_engine(self._base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as conn:
                yield conn
        finally:
            admin.dispose()

    def drop_all(self) -> None:
        """Drop what was made, a few at a time (each DROP waits on the disk)."""

        def drop(names: list[str]) -> None:
            with self._admin() as conn:
                for db_name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))

        if self._base is not None and self._created:
            lanes = [self._created[i::4] for i in range(4)]
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(drop, lanes))


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    databases = Databases(tmp_path_factory.mktemp("db"))
    yield databases
    databases.drop_all()


# --- cards ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def residents() -> dict[str, Resident]:
    return {r.label: r for r in load_residents(REPO / "fixtures" / "residents.json")}


@pytest.fixture(scope="session")
def issuer_template(
    tmp_path_factory: pytest.TempPathFactory, residents: dict[str, Resident]
) -> Path:
    root = tmp_path_factory.mktemp("issuer")
    issuer = Issuer.open(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    for resident in residents.values():
        issuer.issue_card(resident, pin=PIN)
    return root


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def sign_with_card(card_path: Path, challenge_b64: str, pin: str = PIN) -> tuple[str, str]:
    """What the front desk does: read the certificate, PIN-sign SHA-256(challenge)."""
    session = JpkiSession(InProcessConnection(EmulatedCard(load_image(card_path))))
    der = session.read_auth_certificate()
    token = base64.b64decode(challenge_b64)
    signature = session.authenticate(pin, hashlib.sha256(token).digest())
    return base64.b64encode(der).decode(), base64.b64encode(signature).decode()


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    deps: Dependencies
    issuer: Issuer
    clock: Clock
    clinic_token: str
    other_clinic_token: str
    device_key: Ed25519PrivateKey
    qualification_ids: dict[str, int]
    registry: sessionmaker[Session]  # the insurer registry's database, for insurers' steps

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.clinic_token}"}

    def card(self, label: str) -> Path:
        return self.issuer.card_path(label)

    def challenge(self, purpose: str = "check", token: str | None = None) -> str:
        response = self.client.post(
            "/v1/challenges", json={"purpose": purpose}, headers=self.headers(token)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["challenge"])

    def face_body(self, label: str, device_id: str = "face-1") -> dict[str, Any]:
        """A card check body proved by the clinic's reader (its key), named `device_id`."""
        challenge = self.challenge()
        cert_b64, _ = sign_with_card(self.card(label), challenge)
        message = device_message(
            base64.b64decode(challenge), base64.b64decode(cert_b64), Method.FACE
        )
        signature = base64.b64encode(self.device_key.sign(message)).decode()
        return {
            "challenge": challenge,
            "certificate": cert_b64,
            "proof": {"method": "face", "device_id": device_id, "signature": signature},
        }

    def portal_challenge(self, purpose: str = "portal") -> str:
        response = self.client.post("/portal/v1/challenges", json={"purpose": purpose})
        assert response.status_code == 200, response.text
        return str(response.json()["challenge"])

    def proof(self, label: str, challenge: str, pin: str = PIN) -> dict[str, str]:
        cert, signature = sign_with_card(self.card(label), challenge, pin)
        return {"challenge": challenge, "certificate": cert, "signature": signature}

    def register(self, label: str) -> None:
        proof = self.proof(label, self.portal_challenge("registration"))
        response = self.client.post(
            "/portal/v1/registrations", json={"proof": proof, "consent": True}
        )
        assert response.status_code == 200, response.text

    def check(self, label: str, consents: dict[str, bool] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
        challenge = self.challenge()
        proof = self.proof(label, challenge)
        body = {
            "challenge": challenge,
            "certificate": proof["certificate"],
            "proof": {"method": "pin", "signature": proof["signature"]},
            "consents": consents or {},
        }
        response = self.client.post("/v1/eligibility/card", json=body, headers=self.headers())
        return response.status_code, response.json()


def _record(resident: Resident, number: str, start: D, **extra: object) -> MemberRecord:
    fields: dict[str, object] = {
        "number": number,
        "branch": "00",
        "card_classification": InsuredCardClassification.GENERAL,
        "personal_family": PersonalFamilyClassification.INSURED,
        "name": resident.name,
        "name_kana": resident.name_kana,
        "sex": Sex(resident.sex),
        "birthdate": resident.birth_date,
        "qualification_date": start,
        "certificate_issuance_date": start,  # as real insurers' data carries them
        "card_valid_date": start,
        "contribution_ratio": ContributionRatio.THIRTY_PERCENT,
        **extra,
    }
    return MemberRecord(**fields)  # type: ignore[arg-type]


def seed_registry(url: str, residents: dict[str, Resident]) -> dict[str, int]:
    """Two insurers and members in the situations the tests need."""
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    sessions = registry_db.make_session_factory(engine)
    actor = Actor.operator("tests")
    ids: dict[str, int] = {}

    def ref(label: str) -> str:
        return person_reference(residents[label].my_number, DEVELOPMENT_PSEUDONYM_KEY)

    with registry_db.transaction(sessions) as s:
        kyokai = add_insurer(session=s, number=KYOKAI, name="全国健康保険協会 東京支部")
        kokuho = add_insurer(session=s, number=KOKUHO, name="千代田区国民健康保険")
        limit = LimitApplicationCertificate(
            classification=LimitCertificateClassification.LIMIT,
            valid_start=D(2026, 4, 1),
            income_class=LimitIncomeClass.A03,
        )
        yamada = residents["yamada-taro"]
        ids["yamada"] = register_member(
            session=s, insurer=kyokai, person_ref=ref("yamada-taro"), actor=actor,
            record=_record(yamada, "1001", D(2010, 4, 1), symbol="記号12", limit=limit,
                           insured_name=yamada.name),
        ).id  # fmt: skip
        for insurer, number in ((kyokai, "2001"), (kokuho, "2002")):
            ids[f"suzuki-{number}"] = register_member(
                session=s, insurer=insurer, person_ref=ref("suzuki-hanako"), actor=actor,
                record=_record(residents["suzuki-hanako"], number, D(2020, 1, 1)),
            ).id  # fmt: skip
        ids["tanaka"] = register_member(
            session=s, insurer=kokuho, person_ref=ref("tanaka-ichiro"), actor=actor,
            record=_record(residents["tanaka-ichiro"], "3001", D(2005, 4, 1)),
        ).id  # fmt: skip
        ids["kobayashi-old"] = register_member(
            session=s, insurer=kokuho, person_ref=ref("kobayashi-ken"), actor=actor,
            record=_record(residents["kobayashi-ken"], "4001", D(2000, 4, 1)),
        ).id  # fmt: skip
        for label, number in (("ito-mai", "5001"), ("sato-yui", "6001")):
            ids[label] = register_member(
                session=s, insurer=kyokai, person_ref=ref(label), actor=actor,
                record=_record(residents[label], number, D(2020, 4, 1)),
            ).id  # fmt: skip
    with registry_db.transaction(sessions) as s:
        record_loss(
            session=s, insurer=kokuho, qualification_id=ids["tanaka"],
            loss_date=D(2025, 3, 31), reason=ReasonOfLoss.OTHER, actor=actor,
        )  # fmt: skip
        record_loss(
            session=s, insurer=kokuho, qualification_id=ids["kobayashi-old"],
            loss_date=D(2024, 10, 1), reason=ReasonOfLoss.OTHER_INSURANCE_ACQUIRED, actor=actor,
        )  # fmt: skip
    with registry_db.transaction(sessions) as s:
        ids["kobayashi-new"] = register_member(
            session=s, insurer=kyokai, person_ref=ref("kobayashi-ken"), actor=actor,
            record=_record(residents["kobayashi-ken"], "4002", D(2024, 10, 1)),
        ).id  # fmt: skip
    engine.dispose()
    return ids


@pytest.fixture
def world(
    database_factory: Databases,
    issuer_template: Path,
    residents: dict[str, Resident],
    tmp_path: Path,
) -> Iterator[World]:
    root = tmp_path / "issuer"
    shutil.copytree(issuer_template, root)
    issuer = Issuer.open(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    registry_url = database_factory.migrated("registry", "registry")
    ids = seed_registry(registry_url, residents)
    settings = Settings(
        database_url=database_factory.migrated("server", "server"),
        registry_database_url=registry_url,
        jpki_ca_files=[issuer.ca_certificate_path(issuer.auth_ca.kind)],
        jpki_crl_files=[issuer.crl_path],
        issuer_directory_files=[issuer.directory_path],
        insured_lookups_per_minute=1000,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    clock = Clock()
    registry_engine = registry_db.make_engine(registry_url)
    registry = registry_db.make_session_factory(registry_engine)
    deps = Dependencies(
        settings=settings,
        sessions=sessions,
        trust=TrustStore(settings.jpki_ca_files, settings.jpki_crl_files, check_interval_s=0),
        directory=FileIssuerDirectory(settings.issuer_directory_files, check_interval_s=0),
        source=RegistryQualificationSource(registry_engine),
        clock=clock,
    )
    device = Ed25519PrivateKey.generate()
    with transaction(sessions) as s:
        token = register_clinic(session=s, code=CLINIC, name="霞が関クリニック", now=clock())
        other = register_clinic(session=s, code=OTHER_CLINIC, name="梅田薬局", now=clock())
        register_device(
            session=s, clinic_code=CLINIC, device_id="face-1", now=clock(),
            public_key=device.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        )  # fmt: skip
    # tests seal the access log and look up batches themselves, when they mean to
    with TestClient(
        create_app(deps, seal_interval_s=None, batch_interval_s=None),
        raise_server_exceptions=False,
    ) as client:
        yield World(client, deps, issuer, clock, token, other, device, ids, registry)
    engine.dispose()
    registry_engine.dispose()
