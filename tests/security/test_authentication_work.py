"""A credential with an unknown id costs the server the same work as a known id with a wrong
secret, so the time of a refusal does not tell which ids exist.

Not a timed test (`bench/auth_timing.py` measures the times). What is compared is the work
itself, traced without mocks while the real function runs against the real database: every
hashing and digest-comparison call (`sys.setprofile` sees each call into C), and every
statement sent to the database with the number of rows it reads.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.errors import AuthenticationFailed
from insurer_registry.insurers.authentication import authenticate
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import issue_credential
from qualification_server.clinics.service import ClinicAuthenticator
from qualification_server.errors import QualificationError
from tests.support.registry import RegisteredInsurer
from tests.support.world import CLINIC, World

pytestmark = pytest.mark.db

_HASH_OBJECT = type(hashlib.sha256())
_DIGEST_FUNCTIONS = {hashlib.sha256: "sha256", hmac.compare_digest: "compare_digest"}


@dataclass(frozen=True)
class Work:
    """What one call did: its hashing and comparisons in order, and each statement it sent
    to the database with the number of rows it reads."""

    digests: tuple[str, ...]
    reads: tuple[tuple[str, int], ...]


def _digest_call(function: Any) -> str | None:
    try:
        name = _DIGEST_FUNCTIONS.get(function)
    except TypeError:  # an unhashable callable: not one of ours
        return None
    if name is None and isinstance(getattr(function, "__self__", None), _HASH_OBJECT):
        name = f"hash.{function.__name__}"
    return name


def work_of(engine: Engine, call: Callable[[], object], refused: type[Exception]) -> Work:
    """Run `call` (which must raise `refused`) and trace its work."""
    digests: list[str] = []
    sent: list[tuple[str, Any]] = []

    def profile(_frame: FrameType, what: str, arg: Any) -> None:
        if what == "c_call" and (name := _digest_call(arg)) is not None:
            digests.append(name)

    def executed(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "after_cursor_execute", executed)
    before = sys.getprofile()
    sys.setprofile(profile)
    try:
        with pytest.raises(refused):
            call()
    finally:
        sys.setprofile(before)
        event.remove(engine, "after_cursor_execute", executed)
    with engine.connect() as connection:
        reads = tuple(
            (statement, _rows(connection, statement, parameters)) for statement, parameters in sent
        )
    return Work(tuple(digests), reads)


def _rows(connection: Connection, statement: str, parameters: Any) -> int:
    """The rows a SELECT reads (run again); -1 for anything else (SQLite's BEGIN IMMEDIATE)."""
    if not statement.lstrip().upper().startswith("SELECT"):
        return -1
    return len(connection.exec_driver_sql(statement, parameters).all())


def test_an_unknown_clinic_code_costs_what_a_wrong_secret_costs(world: World) -> None:
    sessions: sessionmaker[Session] = world.deps.sessions
    engine: Engine = sessions.kw["bind"]
    clinics = ClinicAuthenticator(sessions)
    wrong_secret = "A" * len(world.clinic_token.split(".", 1)[1])
    known = work_of(
        engine, lambda: clinics.authenticate(f"{CLINIC}.{wrong_secret}"), QualificationError
    )
    unknown = work_of(
        engine, lambda: clinics.authenticate(f"1310000099.{wrong_secret}"), QualificationError
    )
    assert "compare_digest" in unknown.digests
    assert unknown == known
    assert [rows for _, rows in unknown.reads if rows >= 0] == [1]  # a row even for no clinic


@pytest.mark.parametrize("kind", list(CredentialKind))
def test_an_unknown_credential_id_costs_what_a_wrong_secret_costs(
    engine: Engine,
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    kind: CredentialKind,
) -> None:
    with transaction(sessions) as session:
        insurer = insurer_a.info if kind is CredentialKind.INSURER else None
        issued = issue_credential(session=session, kind=kind, label="t", insurer=insurer)
    wrong_secret = "A" * len(issued.token.split(".", 1)[1])

    def attempt(public_id: str) -> Callable[[], object]:
        token = f"{kind.value}_{public_id}.{wrong_secret}"

        def call() -> object:
            with sessions() as session:
                return authenticate(session=session, token=token, kind=kind)

        return call

    known = work_of(engine, attempt(issued.public_id), AuthenticationFailed)
    unknown = work_of(engine, attempt("0" * 12), AuthenticationFailed)
    assert "compare_digest" in unknown.digests
    assert unknown == known
    assert [rows for _, rows in unknown.reads if rows >= 0] == [1]
