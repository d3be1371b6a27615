"""The access log's stored Merkle tree (issue 18): sealing appends the records as leaves in
commit order with every subtree they complete; the stored tree gives the roots and proofs of
the reference tree; checkpoints are signed when the tree grew and cosigned by witnesses, a
witness that is down or behind never stopping the log; the public routes; the migration from
the hash chain, which keeps every record's place and refuses a broken chain."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select, text, update

from onshi_kernel.db import alembic_config
from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.checkpoint import (
    Checkpoint,
    WitnessSigner,
    cosign,
    open_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log import checkpoints, tree
from qualification_server.access_log import log as access_log
from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity
from qualification_server.access_log.housekeeping import Housekeeper
from qualification_server.db import MIGRATIONS, make_engine, make_session_factory, migrate
from qualification_server.models import AccessRecord, LogCheckpoint, TreeHead, TreeNode
from qualification_server.settings import Settings
from qualification_server.witness.client import WitnessConflict, WitnessUnavailable
from tests.support.world import World

pytestmark = pytest.mark.db

ORIGIN = "onshi.test/access-log"
NOW = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


def entry(number: int) -> access_log.Entry:
    """A record of a lookup (a made-up person reference: the log never holds a name)."""
    return access_log.Entry(
        now=NOW + dt.timedelta(seconds=number),
        clinic_code="1310000017",
        person_ref=f"ref-{number:04d}",
        method="pin",
        request={"n": number},
        answer={"ok": True},
    )


def add_records(world: World, count: int, start: int = 0) -> None:
    """`count` unsealed records."""
    with world.deps.sessions() as session, session.begin():
        for number in range(start, start + count):
            access_log.append(session, entry(number))


def seal_all(world: World) -> int:
    """Seal until nothing is left; how many were sealed."""
    sealed = 0
    while True:
        with world.deps.sessions() as session, session.begin():
            done = access_log.seal(session)
        sealed += done
        if done == 0:
            return sealed


def leaves_of(world: World) -> list[bytes]:
    """The leaf hashes the records make, in tree order."""
    with world.deps.sessions() as session:
        records = session.scalars(
            select(AccessRecord)
            .where(AccessRecord.chain_pos.is_not(None))
            .order_by(AccessRecord.chain_pos)
        ).all()
        return [access_log.record_leaf(r, r.chain_pos or 0) for r in records]


class FakeWitness:
    """An in-process witness that does what a witness must: it cosigns a checkpoint of the
    log's key only with a consistency proof from the last size it cosigned, refuses a
    different old size with its size (as `WitnessConflict(size)`), and keeps its latest."""

    def __init__(self, log_key: Ed25519Signer, name: str = "witness.test/one") -> None:
        self.log = log_key.verifier()
        self.key = WitnessSigner.generate(name)
        self.size = 0
        self.root = merkle.EMPTY_ROOT
        self.note: str | None = None
        self.down = False
        self.calls = 0

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> list[str]:
        self.calls += 1
        if self.down:
            raise WitnessUnavailable("the witness is down")
        checkpoint = open_checkpoint(note, self.log, ORIGIN)
        if old_size != self.size:
            raise WitnessConflict(self.size)
        merkle.verify_consistency(old_size, checkpoint.size, self.root, checkpoint.root, proof)
        cosigned = cosign(note, self.key, NOW)
        self.size, self.root, self.note = checkpoint.size, checkpoint.root, cosigned
        return [cosigned.rsplit("\n", 2)[-2]]

    def latest(self, origin: str) -> str | None:
        if self.down:
            raise ConnectionError("the witness is down")
        return self.note if origin == ORIGIN else None


@pytest.fixture
def log_key() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


@pytest.fixture
def witness(log_key: Ed25519Signer) -> FakeWitness:
    return FakeWitness(log_key)


@pytest.fixture
def checkpointer(world: World, log_key: Ed25519Signer, witness: FakeWitness) -> Checkpointer:
    return Checkpointer(
        world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness], clock=lambda: NOW
    )


# --- sealing ---------------------------------------------------------------------------------


def test_sealing_appends_the_records_in_commit_order_with_every_subtree(world: World) -> None:
    add_records(world, 13)
    assert seal_all(world) == 13
    leaves = leaves_of(world)
    reference = merkle.MemoryStore()
    reference.append(leaves)
    with world.deps.sessions() as session:
        ids = session.scalars(select(AccessRecord.id).order_by(AccessRecord.chain_pos)).all()
        assert ids == sorted(ids)  # id order is the commit order the sealer sees
        stored = {(n.level, n.idx): n.hash for n in session.scalars(select(TreeNode))}
        head = session.get(TreeHead, tree.HEAD_ID)
        assert head is not None and head.size == 13 and head.root == merkle.root_of(leaves)
        assert access_log.verify_chain(session) is None
    expected = {
        (level, index): reference.get(level, index)
        for level in range(5)
        for index in range(13 >> level)
    }
    assert stored == expected


def test_sealing_in_small_batches_builds_the_same_tree(world: World) -> None:
    add_records(world, 21)
    while True:
        with world.deps.sessions() as session, session.begin():
            if access_log.seal(session, limit=4) == 0:
                break
    leaves = leaves_of(world)
    with world.deps.sessions() as session:
        assert tree.head(session).root == merkle.root_of(leaves)
        for size in range(1, 22):
            assert tree.root(session, size) == merkle.root_of(leaves[:size])


def test_the_stored_proofs_are_the_reference_proofs_and_verify(world: World) -> None:
    add_records(world, 11)
    seal_all(world)
    leaves = leaves_of(world)
    with world.deps.sessions() as session:
        for size in (1, 2, 5, 8, 11):
            root = merkle.root_of(leaves[:size])
            for index in range(size):
                proof = tree.inclusion(session, index, size)
                assert proof == merkle.inclusion_proof(index, leaves[:size])
                merkle.verify_inclusion(leaves[index], index, size, proof, root)
            for old in range(size + 1):
                proof = tree.consistency(session, old, size)
                assert proof == merkle.consistency_proof(old, leaves[:size])
                old_root = merkle.root_of(leaves[:old])
                merkle.verify_consistency(old, size, old_root, root, proof)


def test_a_records_leaf_is_its_canonical_json_and_position() -> None:
    record = entry(7)
    row = type("Row", (), {"id": 8, **record.columns()})()
    data = access_log.canonical(row, 3)
    assert json.loads(data) == {
        "pos": 3, "id": 8, "recorded_at": "2026-12-02T06:00:07.000000+00:00",
        "clinic_code": "1310000017", "person_ref": "ref-0007", "method": "pin",
        "request": '{"n": 7}', "answer": '{"ok": true}',
    }  # fmt: skip
    assert access_log.record_leaf(row, 3) == hashlib.sha256(b"\x00" + data).digest()


def test_verify_names_an_edited_and_a_removed_record(world: World) -> None:
    add_records(world, 6)
    seal_all(world)
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord).where(AccessRecord.chain_pos == 4).values(method="face")
        )
    with world.deps.sessions() as session:
        broken = access_log.verify_chain(session)
    assert broken == access_log.ChainBreak(4, "record content changed")


# --- checkpoints and witnesses -----------------------------------------------------------


def test_a_checkpoint_is_signed_when_the_tree_grew_and_cosigned(
    world: World, checkpointer: Checkpointer, witness: FakeWitness, log_key: Ed25519Signer
) -> None:
    assert checkpointer.run_once() is None  # nothing sealed: nothing to sign
    add_records(world, 5)
    seal_all(world)
    signed = checkpointer.run_once()
    assert signed is not None and signed.size == 5
    assert checkpointer.run_once() is None  # did not grow
    with world.deps.sessions() as session:
        row = session.get(LogCheckpoint, 5)
        assert row is not None and row.witnessed_note is not None
        assert open_checkpoint(row.note, log_key.verifier(), ORIGIN) == Checkpoint(
            ORIGIN, 5, tree.head(session).root
        )
        assert verify_cosignature(row.witnessed_note, witness.key.verifier()) == NOW
    add_records(world, 4, start=5)
    seal_all(world)
    assert checkpointer.run_once() is not None
    assert witness.size == 9  # proven consistent from 5


def test_a_witness_at_another_size_is_retried_once_from_its_size(
    world: World, log_key: Ed25519Signer, witness: FakeWitness
) -> None:
    add_records(world, 3)
    seal_all(world)
    first = Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness])
    first.run_once()
    add_records(world, 3, start=3)
    seal_all(world)
    # A restarted server does not know the witness's size: it says 0, is told 3, retries.
    restarted = Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness])
    calls = witness.calls
    restarted.run_once()
    assert witness.size == 6 and witness.calls == calls + 2


def test_a_cosignature_by_no_configured_witness_key_is_not_stored(
    world: World, log_key: Ed25519Signer, witness: FakeWitness, caplog: pytest.LogCaptureFixture
) -> None:
    """With ONSHI_LOG_WITNESS_KEYS, what answers at a witness's URL must cosign with one of
    them: a cosignature by another key (a stand-in at that URL) is reported, not stored."""
    add_records(world, 3)
    seal_all(world)
    stranger = WitnessSigner.generate("witness.test/one").verifier()  # the name, not the key
    checking = Checkpointer(
        world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness], witness_keys=[stranger]
    )
    checking.run_once()
    with world.deps.sessions() as session:
        assert session.get(LogCheckpoint, 3).witnessed_note is None  # type: ignore[union-attr]
    assert "that no key of ONSHI_LOG_WITNESS_KEYS verifies: not stored" in caplog.text
    add_records(world, 2, start=3)
    seal_all(world)
    trusting = Checkpointer(
        world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness],
        witness_keys=[stranger, witness.key.verifier()],
    )  # fmt: skip
    trusting.run_once()
    with world.deps.sessions() as session:
        note = session.get(LogCheckpoint, 5).witnessed_note  # type: ignore[union-attr]
    assert note is not None and verify_cosignature(note, witness.key.verifier()) == NOW


def test_a_witness_that_is_down_blocks_neither_sealing_nor_signing(
    world: World, checkpointer: Checkpointer, witness: FakeWitness
) -> None:
    witness.down = True
    add_records(world, 2)
    seal_all(world)
    assert checkpointer.run_once() is not None  # signed, not cosigned, no error
    with world.deps.sessions() as session:
        assert session.get(LogCheckpoint, 2).witnessed_note is None  # type: ignore[union-attr]
    witness.down = False
    checkpointer.run_once()  # the next interval retries
    with world.deps.sessions() as session:
        assert session.get(LogCheckpoint, 2).witnessed_note is not None  # type: ignore[union-attr]


def test_the_housekeeper_checkpoints_in_its_own_thread(
    world: World, checkpointer: Checkpointer
) -> None:
    checkpointer.interval_s = 0.05
    add_records(world, 3)
    keeper = Housekeeper(world.deps.sessions, 0.05, checkpoints=checkpointer)
    keeper.start()
    try:
        for _ in range(200):
            with world.deps.sessions() as session:
                if session.get(LogCheckpoint, 3) is not None:
                    break
            keeper._stop.wait(0.05)
    finally:
        keeper.stop()
    with world.deps.sessions() as session:
        row = session.get(LogCheckpoint, 3)
        assert row is not None and row.witnessed_note is not None


# --- the public routes -------------------------------------------------------------------


def test_the_routes_give_the_checkpoint_and_proofs_that_verify(
    world: World, checkpointer: Checkpointer, log_key: Ed25519Signer
) -> None:
    first = world.client.get("/v1/log/checkpoint")  # none yet: the empty head, signed now
    assert first.status_code == 200
    assert first.text.startswith(f"{world.deps.settings.log_origin}\n0\n")
    add_records(world, 7)
    seal_all(world)
    checkpointer.run_once()
    answer = world.client.get("/v1/log/checkpoint")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    checkpoint = open_checkpoint(answer.text, log_key.verifier(), ORIGIN)
    assert "witness.test/one" in answer.text  # the witnessed note is preferred
    leaves = leaves_of(world)
    proof = world.client.get("/v1/log/inclusion", params={"index": 3, "size": 7}).json()
    merkle.verify_inclusion(
        leaves[3], 3, 7, [base64.b64decode(h) for h in proof["hashes"]], checkpoint.root
    )
    proof = world.client.get("/v1/log/consistency", params={"old": 2, "new": 7}).json()
    merkle.verify_consistency(
        2, 7, merkle.root_of(leaves[:2]), checkpoint.root,
        [base64.b64decode(h) for h in proof["hashes"]],
    )  # fmt: skip
    for path, params in (
        ("/v1/log/inclusion", {"index": 7, "size": 7}),
        ("/v1/log/inclusion", {"index": 0, "size": 8}),
        ("/v1/log/consistency", {"old": 3, "new": 2}),
        ("/v1/log/consistency", {"old": 0, "new": 8}),
    ):
        assert world.client.get(path, params=params).status_code in (400, 422)


# --- settings -------------------------------------------------------------------------------


def test_the_development_log_key_is_generated_once_under_var(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONSHI_ENV", "development")
    first = checkpoints.load_signer(Settings())
    assert (tmp_path / "var" / "access-log-signing.key").exists()
    assert checkpoints.load_signer(Settings()).key_string() == first.key_string()
    assert first.name == "onshi.local/access-log"


def test_a_log_key_file_that_holds_no_key_is_refused_without_its_content(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "key"
    bad.write_text("PRIVATE+KEY+not-a-key-secret-value")
    monkeypatch.setenv("ONSHI_ENV", "development")
    monkeypatch.setenv("ONSHI_LOG_SIGNING_KEY_FILE", str(bad))
    with pytest.raises(ValueError, match="not a note signer key") as raised:
        checkpoints.load_signer(Settings())
    assert "secret-value" not in str(raised.value)


def test_outside_development_an_unset_log_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "test")
    monkeypatch.setenv("ONSHI_CHALLENGE_KEY", "k" * 40)
    with pytest.raises(ValueError, match="ONSHI_LOG_SIGNING_KEY_FILE"):
        Settings()


# --- the migration from the chain ----------------------------------------------------------


def _old_seal(engine: Engine) -> None:
    """Seal the unsealed records as revision 0008's code did (the chain), kept here."""
    with engine.begin() as connection:
        head = connection.execute(text("SELECT pos, hash FROM access_chain_head")).one_or_none()
        pos, prev = (0, bytes(32)) if head is None else (head.pos, bytes(head.hash))
        rows = connection.execute(
            text(
                "SELECT id, recorded_at, clinic_code, person_ref, method, request, answer "
                "FROM access_records WHERE chain_pos IS NULL ORDER BY id"
            )
        ).all()
        for row in rows:
            pos += 1
            recorded = row.recorded_at
            if isinstance(recorded, str):
                recorded = dt.datetime.fromisoformat(recorded)
            fields = type("Row", (), {**row._asdict(), "recorded_at": recorded})()
            digest = hashlib.sha256(prev + access_log.canonical(fields, pos)).digest()
            connection.execute(
                text("UPDATE access_records SET chain_pos=:p, prev_hash=:v, hash=:h WHERE id=:i"),
                {"p": pos, "v": prev, "h": digest, "i": row.id},
            )
            prev = digest
        connection.execute(text("DELETE FROM access_chain_head"))
        connection.execute(
            text("INSERT INTO access_chain_head (id, pos, hash) VALUES (1, :p, :h)"),
            {"p": pos, "h": prev},
        )


def _insert_old(engine: Engine, count: int, start: int = 0) -> None:
    with engine.begin() as connection:
        for number in range(start, start + count):
            connection.execute(
                text(
                    "INSERT INTO access_records (recorded_at, clinic_code, person_ref, method, "
                    "request, answer) VALUES (:recorded_at, :clinic_code, :person_ref, :method, "
                    ":request, :answer)"
                ),
                entry(number).columns(),
            )


@pytest.fixture
def chain_engine(database_factory: Callable[[str], str]) -> Iterator[Engine]:
    """A database at revision 0008 holding 10 sealed (chained) and 3 unsealed records."""
    engine = make_engine(database_factory("chain"))
    migrate(engine, "0008")
    _insert_old(engine, 10)
    _old_seal(engine)
    _insert_old(engine, 3, start=10)
    yield engine
    engine.dispose()


def _positions(engine: Engine) -> list[tuple[int, int | None]]:
    with engine.connect() as connection:
        return [
            (r.id, r.chain_pos)
            for r in connection.execute(
                text("SELECT id, chain_pos FROM access_records ORDER BY id")
            )
        ]


def test_the_migration_keeps_every_records_place_in_the_tree(chain_engine: Engine) -> None:
    before = _positions(chain_engine)
    migrate(chain_engine)
    assert _positions(chain_engine) == before  # none lost, none moved, unsealed still unsealed
    sessions = make_session_factory(chain_engine)
    with sessions() as session:
        records = session.scalars(
            select(AccessRecord).where(AccessRecord.chain_pos.is_not(None))
            .order_by(AccessRecord.chain_pos)
        ).all()  # fmt: skip
        leaves = [access_log.record_leaf(r, r.chain_pos or 0) for r in records]
        assert len(leaves) == 10
        assert tree.head(session).size == 10
        assert tree.head(session).root == merkle.root_of(leaves)
        assert access_log.verify_chain(session) is None
    with sessions() as session, session.begin():
        assert access_log.seal(session) == 3  # the unsealed ones follow, in order
    with sessions() as session:
        assert access_log.verify_chain(session) is None
        assert tree.head(session).size == 13


def test_the_migration_refuses_a_broken_chain(chain_engine: Engine) -> None:
    with chain_engine.begin() as connection:
        connection.execute(text("UPDATE access_records SET method='face' WHERE chain_pos = 4"))
    with pytest.raises(Exception, match="record 4: its content changed") as raised:
        migrate(chain_engine)
    assert "not migrated" in str(raised.value)
    with chain_engine.connect() as connection:  # nothing changed: still the chain
        assert connection.execute(text("SELECT count(*) FROM access_chain_head")).scalar() == 1


def test_the_downgrade_rebuilds_a_chain_that_verifies(chain_engine: Engine) -> None:
    migrate(chain_engine)
    sessions = make_session_factory(chain_engine)
    with sessions() as session, session.begin():
        access_log.seal(session)
    command.downgrade(alembic_config(chain_engine, MIGRATIONS), "0008")
    assert [pos for _, pos in _positions(chain_engine)] == list(range(1, 14))
    # The old code's view: every hash links, and the head is the last.
    with chain_engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM access_records ORDER BY chain_pos")).all()
        prev = bytes(32)
        for row in rows:
            recorded = row.recorded_at
            if isinstance(recorded, str):
                recorded = dt.datetime.fromisoformat(recorded)
            fields: Any = type("Row", (), {**row._asdict(), "recorded_at": recorded})()
            assert bytes(row.prev_hash) == prev
            digest = hashlib.sha256(prev + access_log.canonical(fields, row.chain_pos)).digest()
            assert bytes(row.hash) == digest
            prev = digest
        head = connection.execute(text("SELECT pos, hash FROM access_chain_head")).one()
        assert (head.pos, bytes(head.hash)) == (13, prev)
    migrate(chain_engine)  # and up again
    with make_session_factory(chain_engine)() as session:
        assert access_log.verify_chain(session) is None
