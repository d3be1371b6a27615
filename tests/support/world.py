"""A qualification server on a real database, a registry with insurers and members, and
emulated cards issued by a test CA: every flow runs with the real parts in process."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from card_reader.core.jpki import JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import CardImage, load_image
from card_reader.issuance.issuer import Issuer, four_items_of
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
from onshi_kernel.four_items import InMemoryResidentRegister
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
from tests.support.cards import issuer_copy

REPO = Path(__file__).resolve().parents[2]
PIN = "1234"
CLINIC = "1310000017"
OTHER_CLINIC = "2710000027"
KYOKAI = InsurerNumber(complete_insurer_number("0113001"))  # 協会けんぽ-like, 8 digits
KOKUHO = InsurerNumber(complete_insurer_number("13101"))  # 国保, 6 digits
D = dt.date


# --- databases: SQLite files, or throw-away PostgreSQL databases under DATABASE_URL ----------


@dataclass(frozen=True)
class _Snapshot:
    """A PostgreSQL template's contents, to put a database made from it back as it was:
    each table's rows (as COPY writes them), each sequence's position, and a digest of the
    schema (a database whose schema a test changed is not put back but left to be dropped)."""

    schema: str
    tables: tuple[tuple[str, bytes], ...]
    sequences: tuple[tuple[str, int, bool], ...]


_SCHEMA_DIGEST = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '') || ':'
        || coalesce(format_type(a.atttypid, a.atttypmod), '') || ':'
        || coalesce(a.attnotnull::text, '') || ':'
        || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS item
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT c.conrelid::regclass::text || ':' || c.conname || ':' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT t.tgrelid::regclass::text || ':' || t.tgname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
) items
"""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _take_snapshot(url: str) -> _Snapshot:
    with psycopg.connect(_libpq(url)) as conn:
        schema = conn.execute(_SCHEMA_DIGEST).fetchone()
        # Plain tables only: a partitioned table holds no rows of its own (its partitions,
        # plain tables, are copied and put back each), and COPY cannot read one.
        names = [row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname"
        )]  # fmt: skip
        tables = []
        for name in names:
            with conn.cursor().copy(f"COPY public.{_quote(name)} TO STDOUT") as copy:
                tables.append((name, b"".join(bytes(chunk) for chunk in copy)))
        sequences = []
        for (name,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            row = conn.execute(f"SELECT last_value, is_called FROM public.{_quote(name)}")
            last, called = row.fetchone() or (1, False)
            sequences.append((f"public.{_quote(name)}", int(last), bool(called)))
    assert schema is not None
    return _Snapshot(str(schema[0]), tuple(tables), tuple(sequences))


def _put_back(url: str, snapshot: _Snapshot) -> bool:
    """Put a database made from a template back to the template's contents; False (and
    the database left as it is) if its schema changed or it cannot be had to itself."""
    try:
        with psycopg.connect(_libpq(url)) as conn:
            conn.execute("SET lock_timeout = '5s'")
            # Whatever a test left connected (it has ended) goes, so nothing writes after us.
            others = (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.execute(others)
            conn.commit()
            for _ in range(100):
                alive = conn.execute(others.replace("pg_terminate_backend(pid)", "pid")).fetchall()
                conn.commit()
                if not alive:
                    break
                time.sleep(0.05)
            else:
                return False
            schema = conn.execute(_SCHEMA_DIGEST).fetchone()
            if schema is None or schema[0] != snapshot.schema:
                return False
            # Rows go and come back in any order: foreign keys are not checked meanwhile.
            conn.execute("SET LOCAL session_replication_role = replica")
            for name, _ in snapshot.tables:
                conn.execute(f"DELETE FROM public.{_quote(name)}")
            with conn.cursor() as cursor:
                for name, rows in snapshot.tables:
                    if rows:
                        with cursor.copy(f"COPY public.{_quote(name)} FROM STDIN") as copy:
                            copy.write(rows)
                for sequence, last, called in snapshot.sequences:
                    cursor.execute("SELECT setval(%s, %s, %s)", (sequence, last, called))
            conn.commit()
        return True
    except psycopg.Error:
        return False


class Databases:
    """Throw-away databases: SQLite files, or PostgreSQL databases under DATABASE_URL.

    `databases(name)` is an empty one. `databases.migrated(name, schema)` is one whose
    schema ("server" or "registry") is at head already: a copy of a template migrated once a
    session (a file copy; `CREATE DATABASE … TEMPLATE`), which spares every test its
    migrations. `databases.template(key, build)` makes such a template with whatever
    `build(url)` puts in it, once; `databases.lease(name, key)` is a database as that
    template is, for the length of a `with`. On PostgreSQL a leased database is not dropped
    afterwards but put back as the template was (its rows and sequences) and leased again:
    making a database costs a copy of the catalogue, and dropping one a checkpoint. Everything
    made is dropped when the session ends."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        url = os.environ.get("DATABASE_URL", "").replace("postgresql://", "postgresql+psycopg://")
        self._base = make_url(url) if url else None
        self._created: list[str] = []
        self._templates: dict[str, str] = {}
        self._snapshots: dict[str, _Snapshot] = {}
        self._free: dict[str, list[str]] = {}

    def __call__(self, name: str) -> str:
        return self._make(name, template=None)

    def migrated(self, name: str, schema: str) -> str:
        return self._make(name, template=self.migrated_template(schema))

    def migrated_template(self, schema: str) -> str:
        """The template of `migrated(…, schema)`: its name for `lease`."""

        def build(url: str) -> None:
            engine = (make_engine if schema == "server" else registry_db.make_engine)(url)
            (migrate if schema == "server" else registry_db.migrate)(engine)
            engine.dispose()  # a template may have no sessions when it is copied

        return self.template(schema, build)

    def template(self, key: str, build: Callable[[str], object]) -> str:
        """The template database `key`: made empty and given to `build` the first time."""
        if key not in self._templates:
            template = self._make(f"template_{key}", template=None)
            build(template)
            self._templates[key] = template
        return self._templates[key]

    @contextmanager
    def lease(self, name: str, key: str) -> Iterator[str]:
        """A database as template `key` (made with `template` or `migrated`) is, while the
        `with` lasts; the body's engines must be disposed of before it ends."""
        template = self._templates[key]
        if self._base is None:
            yield self._make(name, template=template)
            return
        if key not in self._snapshots:
            self._snapshots[key] = _take_snapshot(template)
        free = self._free.setdefault(key, [])
        url = free.pop() if free else self._make(name, template=template)
        yield url  # an error in the body leaves the database out of the pool, to be dropped
        if _put_back(url, self._snapshots[key]):
            free.append(url)

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


# The cards sign_with_card read, each thread its own, by their files' contents: an emulated
# card parses and checks its RSA keys when it is made (a tenth of a second, more than the
# rest of a check), and every test's cards are copies of the same few files.
_read_cards = threading.local()
READ_CARDS_KEPT = 32


def _card_from(path: Path) -> EmulatedCard:
    """The card in `path` as a reader finds it once powered up: as its file holds it."""
    cards: dict[bytes, tuple[EmulatedCard, CardImage]]
    cards = _read_cards.__dict__.setdefault("cards", {})
    digest = hashlib.sha256(path.read_bytes()).digest()
    known = cards.get(digest)
    if known is not None and known[0].image is known[1]:  # not a PIN tried and failed since
        known[0].reset()  # no selection, nothing verified: as a card made from the file
        return known[0]
    image = load_image(path)
    card = EmulatedCard(image)
    cards.pop(digest, None)
    cards[digest] = (card, image)
    while len(cards) > READ_CARDS_KEPT:  # the oldest first
        del cards[next(iter(cards))]
    return card


def sign_with_card(card_path: Path, challenge_b64: str, pin: str = PIN) -> tuple[str, str]:
    """What the front desk does: read the certificate, PIN-sign SHA-256(challenge) (a
    smartphone's certificate after the PIN)."""
    session = JpkiSession(InProcessConnection(_card_from(card_path)))
    token = base64.b64decode(challenge_b64)
    der, signature = session.prove_presence(pin, hashlib.sha256(token).digest())
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
        response = self.check_response(label, consents)
        return response.status_code, response.json()

    def check_response(
        self,
        label: str,
        consents: dict[str, bool] | None = None,
        path: str = "/v1/eligibility/card",
    ) -> httpx.Response:
        """A PIN check of `label`'s card at `path`, as answered (headers too)."""
        challenge = self.challenge()
        proof = self.proof(label, challenge)
        body = {
            "challenge": challenge,
            "certificate": proof["certificate"],
            "proof": {"method": "pin", "signature": proof["signature"]},
            "consents": consents or {},
        }
        return self.client.post(path, json=body, headers=self.headers())


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


def resident_register_of(residents: dict[str, Resident]) -> InMemoryResidentRegister:
    """The issuer's resident register of the fixture residents (what `register.json` of the
    issuer holds), for registering them in the registry."""
    return InMemoryResidentRegister(
        {
            person_reference(r.my_number, DEVELOPMENT_PSEUDONYM_KEY): four_items_of(r)
            for r in residents.values()
        }
    )


def seed_registry(url: str, residents: dict[str, Resident]) -> dict[str, int]:
    """Two insurers and members in the situations the tests need, each matched against the
    issuer's register of the residents (all match)."""
    engine = registry_db.make_engine(url)
    registry_db.migrate(engine)
    sessions = registry_db.make_session_factory(engine)
    actor = Actor.operator("tests")
    ids: dict[str, int] = {}
    register = resident_register_of(residents)

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
            register=register, my_number_last4=residents["yamada-taro"].my_number[-4:],
            record=_record(yamada, "1001", D(2010, 4, 1), symbol="記号12", limit=limit,
                           insured_name=yamada.name),
        ).id  # fmt: skip
        for insurer, number in ((kyokai, "2001"), (kokuho, "2002")):
            ids[f"suzuki-{number}"] = register_member(
                session=s, insurer=insurer, person_ref=ref("suzuki-hanako"), actor=actor,
                register=register, my_number_last4=residents["suzuki-hanako"].my_number[-4:],
                record=_record(residents["suzuki-hanako"], number, D(2020, 1, 1)),
            ).id  # fmt: skip
        ids["tanaka"] = register_member(
            session=s, insurer=kokuho, person_ref=ref("tanaka-ichiro"), actor=actor,
            register=register, my_number_last4=residents["tanaka-ichiro"].my_number[-4:],
            record=_record(residents["tanaka-ichiro"], "3001", D(2005, 4, 1)),
        ).id  # fmt: skip
        ids["kobayashi-old"] = register_member(
            session=s, insurer=kokuho, person_ref=ref("kobayashi-ken"), actor=actor,
            register=register, my_number_last4=residents["kobayashi-ken"].my_number[-4:],
            record=_record(residents["kobayashi-ken"], "4001", D(2000, 4, 1)),
        ).id  # fmt: skip
        for label, number in (("ito-mai", "5001"), ("sato-yui", "6001")):
            ids[label] = register_member(
                session=s, insurer=kyokai, person_ref=ref(label), actor=actor,
                register=register, my_number_last4=residents[label].my_number[-4:],
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
            register=register, my_number_last4=residents["kobayashi-ken"].my_number[-4:],
            record=_record(residents["kobayashi-ken"], "4002", D(2024, 10, 1)),
        ).id  # fmt: skip
    engine.dispose()
    return ids


REGISTRY_SEEDED = "registry_seeded"  # the template: the registry as seed_registry leaves it


@pytest.fixture(scope="session")
def seeded_registry(database_factory: Databases, residents: dict[str, Resident]) -> dict[str, int]:
    """The qualification ids of the registry template `REGISTRY_SEEDED` (seeded once a
    session: every world's registry is a copy of it)."""
    ids: dict[str, int] = {}

    def build(url: str) -> None:
        ids.update(seed_registry(url, residents))

    database_factory.template(REGISTRY_SEEDED, build)
    return ids


@pytest.fixture
def world(
    database_factory: Databases,
    issuer_template: Path,
    seeded_registry: dict[str, int],
    tmp_path: Path,
) -> Iterator[World]:
    issuer = issuer_copy(issuer_template, tmp_path / "issuer")
    database_factory.migrated_template("server")
    with (
        database_factory.lease("registry", REGISTRY_SEEDED) as registry_url,
        database_factory.lease("server", "server") as server_url,
    ):
        settings = Settings(
            database_url=server_url,
            registry_database_url=registry_url,
            jpki_ca_files=[issuer.ca_certificate_path(issuer.auth_ca.kind)],
            jpki_smartphone_ca_files=[issuer.ca_certificate_path(issuer.phone_ca.kind)],
            jpki_crl_files=issuer.crl_paths(),
            issuer_directory_files=[issuer.directory_path],
            insured_lookups_per_minute=1000,
        )
        engine = make_engine(settings.database_url)  # at head already: a copy of the template
        sessions = make_session_factory(engine)
        clock = Clock()
        registry_engine = registry_db.make_engine(registry_url)
        registry = registry_db.make_session_factory(registry_engine)
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
        ids = dict(seeded_registry)
        # tests seal the access log and look up batches themselves, when they mean to
        with TestClient(
            create_app(deps, seal_interval_s=None, batch_interval_s=None),
            raise_server_exceptions=False,
        ) as client:
            yield World(client, deps, issuer, clock, token, other, device, ids, registry)
        engine.dispose()
        registry_engine.dispose()
