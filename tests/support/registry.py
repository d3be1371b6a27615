"""Fixtures of the registry's tests.

Database tests run against `DATABASE_URL`: SQLite (a file per session) by default, or a
PostgreSQL server, where each session creates a throw-away database with a random name and
drops it at the end. Tables are emptied after every test.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.api.app import create_app
from insurer_registry.db import make_engine, make_session_factory, migrate, transaction
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import InsurerInfo, add_insurer, issue_credential
from insurer_registry.models import table_names
from insurer_registry.settings import Settings
from onshi_kernel.four_items import (
    FourItemMatch,
    FourItems,
    InMemoryResidentRegister,
)
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, complete_my_number, person_reference
from onshi_kernel.numbers import InsurerNumber

# Three insurers: a health insurance society (06), a 国保 (6 digits), a 後期高齢 (39).
INSURER_A = "06130017"
INSURER_B = "138008"
INSURER_C = "39130018"


def my_number(n: int) -> str:
    """A valid My Number, distinct for each `n`."""
    return complete_my_number(f"{10_000_000_000 + n:011d}")


def member_body(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid registration body for member `n`; `overrides` replace or add elements."""
    body: dict[str, Any] = {
        "MyNumber": my_number(n),
        "InsuredCardSymbol": "東京１",
        "InsuredIdentificationNumber": f"{1000 + n}",
        "InsuredBranchNumber": "00",
        "InsuredCardClassification": "01",
        "PersonalFamilyClassification": "1",
        "Name": "山田　太郎",
        "NameKana": "ヤマダ　タロウ",
        "Sex1": "1",
        "Birthdate": "19800401",
        "QualificationDate": "20200401",
        "InsuredCertificateIssuanceDate": "20200401",
        "InsuredCardValidDate": "20200401",
        "InsuredPartialContributionRatio": "030",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def four_items_of_body(body: dict[str, Any]) -> FourItems:
    """The four items a member body states."""
    born = str(body["Birthdate"])
    return FourItems(
        name=body["Name"],
        birthdate=dt.date(int(born[:4]), int(born[4:6]), int(born[6:])),
        sex=body["Sex1"],
        address=body.get("Address"),
        name_kana=body.get("NameKana"),
    )


KNOWN_BY_DEFAULT = 1000


class TestResidents:
    """The card issuer's resident register in a registry test (`ResidentRegister`): the real
    match over the persons the test says the issuer knows. From the start it knows the
    persons of `member_body(n)` for n < 1000 with the four items `member_body` gives them;
    `know` adds or restates one (a test whose member differs from the defaults on purpose
    says so first)."""

    __test__ = False

    def __init__(self) -> None:
        items = four_items_of_body(member_body(0))
        self._entries = {
            person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY): items
            for n in range(KNOWN_BY_DEFAULT)
        }
        self._register = InMemoryResidentRegister(self._entries)

    def know(self, body: dict[str, Any]) -> None:
        """The issuer knows the person of this member body with the items it states."""
        ref = person_reference(body["MyNumber"], DEVELOPMENT_PSEUDONYM_KEY)
        self._entries[ref] = four_items_of_body(body)
        self._register = InMemoryResidentRegister(self._entries)

    def forget(self, my_number_text: str) -> None:
        """The issuer does not know this person."""
        self._entries.pop(person_reference(my_number_text, DEVELOPMENT_PSEUDONYM_KEY), None)
        self._register = InMemoryResidentRegister(self._entries)

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        """The register's match."""
        return self._register.match(person_ref, claimed)

    def match_many(self, claims: Any) -> list[FourItemMatch]:
        """The register's match, set-wise."""
        return self._register.match_many(claims)

    def __len__(self) -> int:
        """How many people the issuer knows."""
        return len(self._entries)


@pytest.fixture
def resident_register() -> TestResidents:
    """The issuer's resident register of this test."""
    return TestResidents()


def _postgres_database(base_url: str) -> Iterator[str]:
    base = make_url(base_url)
    name = f"onshi_registry_test_{secrets.token_hex(6)}"
    admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgres"):
        configured = Settings.model_validate({"database_url": configured}).database_url
        yield from _postgres_database(configured)
    else:
        folder: Path = tmp_path_factory.mktemp("registry")
        yield f"sqlite:///{folder / 'registry.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """The session's engine, its schema migrated to head."""
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    # DELETE, not TRUNCATE: PostgreSQL gives every truncated table new files, which costs
    # a third of a second for tables of a few rows, twice a test; their sequences start again
    # as TRUNCATE … RESTART IDENTITY would make them.
    with engine.begin() as connection:
        for name in table_names():
            connection.execute(text(f"DELETE FROM {name}"))
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
                    " FROM pg_sequences WHERE schemaname = current_schema()"
                )
            )


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The migrated engine; every table is empty when the test starts and after it ends."""
    _empty(migrated_engine)
    yield migrated_engine
    _empty(migrated_engine)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the test database."""
    return make_session_factory(engine)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Development settings on the test database."""
    return Settings(database_url=database_url, env="development")


@dataclass(frozen=True)
class RegisteredInsurer:
    """An insurer of a test, with its credential."""

    info: InsurerInfo
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for this insurer."""
        return {"Authorization": f"Bearer {self.token}"}


def _register(sessions: sessionmaker[Session], number: str, name: str) -> RegisteredInsurer:
    with transaction(sessions) as session:
        info = add_insurer(session=session, number=InsurerNumber(number), name=name)
        issued = issue_credential(
            session=session, kind=CredentialKind.INSURER, label="test", insurer=info
        )
    return RegisteredInsurer(info, issued.token)


@pytest.fixture
def insurer_a(sessions: sessionmaker[Session]) -> RegisteredInsurer:
    """A health insurance society."""
    return _register(sessions, INSURER_A, "東京都ＡＡ健康保険組合")


@pytest.fixture
def insurer_b(sessions: sessionmaker[Session]) -> RegisteredInsurer:
    """A 国民健康保険 (6-digit number)."""
    return _register(sessions, INSURER_B, "札幌市")


@pytest.fixture
def network_token(sessions: sessionmaker[Session]) -> str:
    """A credential of the network lookup."""
    with transaction(sessions) as session:
        return issue_credential(
            session=session, kind=CredentialKind.NETWORK, label="qualification-server"
        ).token


@pytest.fixture
def client(
    engine: Engine, settings: Settings, resident_register: TestResidents
) -> Iterator[TestClient]:
    """The HTTP API on the test database, matching against the test's `resident_register`."""
    with TestClient(create_app(settings, engine=engine, register=resident_register)) as test_client:
        yield test_client


class Writer:
    """Sends writes with fresh Idempotency-Keys."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.count = 0

    def key(self) -> str:
        self.count += 1
        return f"test-{self.count}-{secrets.token_hex(4)}"

    def post(self, path: str, insurer: RegisteredInsurer, body: Any, **kw: Any) -> Any:
        headers = {**insurer.headers, "Idempotency-Key": kw.pop("key", None) or self.key()}
        return self.client.post(path, json=body, headers=headers, **kw)

    def patch(self, path: str, insurer: RegisteredInsurer, body: Any, **kw: Any) -> Any:
        headers = {**insurer.headers, "Idempotency-Key": kw.pop("key", None) or self.key()}
        return self.client.patch(path, json=body, headers=headers, **kw)


@pytest.fixture
def writer(client: TestClient) -> Writer:
    """Writes through the API with fresh request ids."""
    return Writer(client)
