"""Issue 18, as an insider with write access to the server's database: each attack on the
access log that the hash chain let through, now against the tree, its signed checkpoints and
a real witness process (`python -m qualification_server.witness serve`), through
`qualification-server verify-log --witness URL`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner, Result

from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.checkpoint import WitnessSigner, WitnessVerifier
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log import log as access_log
from qualification_server.access_log import tree
from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity
from qualification_server.cli import app
from qualification_server.models import AccessRecord, LogCheckpoint, TreeHead, TreeNode
from qualification_server.witness.client import WitnessClient
from tests.qualification_server.test_access_tree import add_records, seal_all
from tests.support.world import World
from tests.witness.support import WITNESS_NAME, WitnessProcess, init_witness

pytestmark = pytest.mark.db

ORIGIN = "onshi.test/access-log"
RECORDS = 40


@dataclass
class Deployment:
    """The server's database (the world's), its log key, and a witness holding a cosigned
    checkpoint of the log's first `RECORDS` records."""

    world: World
    key_file: Path
    witness: WitnessProcess
    witness_key: WitnessVerifier

    def verify_log(self, *args: str) -> Result:
        env = {
            "ONSHI_ENV": "development",
            "DATABASE_URL": self.world.deps.settings.database_url,
            "ONSHI_LOG_SIGNING_KEY_FILE": str(self.key_file),
            "ONSHI_LOG_ORIGIN": ORIGIN,
            "ONSHI_LOG_WITNESS_URLS": "[]",
        }
        return CliRunner().invoke(app, ["verify-log", *args], env=env)

    def verify_with_witness(self) -> Result:
        return self.verify_log("--witness", self.witness.url)


@pytest.fixture
def deployment(world: World, tmp_path: Path) -> Iterator[Deployment]:
    signer = Ed25519Signer.generate(ORIGIN)
    key_file = tmp_path / "log.key"
    key_file.write_text(signer.key_string() + "\n")
    witness_key, witness_verifier = init_witness(tmp_path)
    log = f"{ORIGIN}={signer.verifier().key_string()}"
    process = WitnessProcess(witness_key, tmp_path / "state.json", [log], tmp_path / "w.err")
    process.start()
    try:
        add_records(world, RECORDS)
        seal_all(world)
        with WitnessClient(process.url) as client:
            Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, signer), [client]).run_once()
            assert client.latest(ORIGIN) is not None
        yield Deployment(world, key_file, process, witness_verifier)
    finally:
        process.stop()


def _rewrite_from_scratch(world: World) -> None:
    """What an insider with the project's own code does: forget the tree, the head and the
    checkpoints, and seal every record again from its current content."""
    with world.deps.sessions() as session, session.begin():
        session.execute(delete(TreeNode))
        session.execute(delete(LogCheckpoint))
        session.execute(update(TreeHead).values(size=0, root=merkle.EMPTY_ROOT))
        session.execute(update(AccessRecord).values(chain_pos=None))
    seal_all(world)


def test_a_edited_record_with_every_hash_node_and_the_head_recomputed_is_detected(
    deployment: Deployment,
) -> None:
    world = deployment.world
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord)
            .where(AccessRecord.chain_pos == 7)
            .values(clinic_code="0000000000")  # who looked is what the insider hides
        )
    _rewrite_from_scratch(world)
    with world.deps.sessions() as session:
        assert access_log.verify_chain(session) is None  # consistent in itself: the chain's hole
    result = deployment.verify_with_witness()
    assert result.exit_code == 1, result.output
    assert f"root at size {RECORDS} is not the root of the checkpoint witnessed by" in (
        result.output
    )
    assert WITNESS_NAME in result.output


def test_b_removed_newest_records_with_the_head_rewound_are_detected(
    deployment: Deployment,
) -> None:
    world = deployment.world
    kept = RECORDS - 5
    with world.deps.sessions() as session, session.begin():
        session.execute(delete(AccessRecord).where(AccessRecord.chain_pos > kept))
        for node in session.scalars(select(TreeNode)).all():
            if (node.idx + 1) << node.level > kept:
                session.delete(node)
        session.execute(delete(LogCheckpoint).where(LogCheckpoint.size > kept))
        session.flush()
        session.execute(update(TreeHead).values(size=kept, root=tree.root(session, kept)))
    with world.deps.sessions() as session:
        assert access_log.verify_chain(session) is None
    result = deployment.verify_with_witness()
    assert result.exit_code == 1, result.output
    assert f"has size {RECORDS}, the tree only {kept}: sealed records were removed" in (
        result.output
    )


def test_c_every_record_deleted_with_the_tree_and_checkpoints_is_detected(
    deployment: Deployment,
) -> None:
    world = deployment.world
    with world.deps.sessions() as session, session.begin():
        for table in (AccessRecord, TreeNode, LogCheckpoint, TreeHead):
            session.execute(delete(table))
    result = deployment.verify_with_witness()
    assert result.exit_code == 1, result.output
    assert "tree size 0 root" in result.output
    assert f"has size {RECORDS}, the tree only 0: sealed records were removed" in result.output


def test_d_the_untouched_log_is_intact_and_its_size_and_root_printed(
    deployment: Deployment,
) -> None:
    world = deployment.world
    with world.deps.sessions() as session:
        root = base64.b64encode(tree.head(session).root).decode()
    result = deployment.verify_with_witness()
    assert result.exit_code == 0, result.output
    assert f"tree size {RECORDS} root {root}" in result.output
    assert f"witnessed size {RECORDS} by {WITNESS_NAME} at " in result.output
    assert "access log intact" in result.output
    add_records(world, 3, start=RECORDS)  # new records after the checkpoint: still intact
    result = deployment.verify_with_witness()
    assert result.exit_code == 0 and f"tree size {RECORDS + 3} root" in result.output


def test_without_a_witness_url_the_stored_copy_is_checked_and_is_weaker(
    deployment: Deployment,
) -> None:
    """The database's copy of the witnessed checkpoint catches an insider who leaves it; one
    who rewrites it too is caught only by asking the witness."""
    world = deployment.world
    result = deployment.verify_log()
    assert result.exit_code == 0, result.output
    assert "the database's copy" in result.output
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord).where(AccessRecord.chain_pos == 2).values(method="face")
        )
    with world.deps.sessions() as session, session.begin():
        session.execute(update(AccessRecord).values(chain_pos=None))
        session.execute(delete(TreeNode))
        session.execute(update(TreeHead).values(size=0, root=merkle.EMPTY_ROOT))
    seal_all(world)  # recomputed, but the stored witnessed checkpoint is left
    result = deployment.verify_log()
    assert result.exit_code == 1 and "were changed or replaced" in result.output
    _rewrite_from_scratch(world)  # the stored checkpoints go too
    assert deployment.verify_log().exit_code == 0  # the database alone cannot tell
    assert deployment.verify_with_witness().exit_code == 1  # the witness can


def test_with_the_witness_key_only_a_cosignature_that_verifies_counts(
    deployment: Deployment,
) -> None:
    genuine = deployment.witness_key.key_string()
    result = deployment.verify_log("--witness", deployment.witness.url, "--witness-key", genuine)
    assert result.exit_code == 0, result.output
    assert f"witnessed size {RECORDS} by {WITNESS_NAME} at " in result.output
    other = WitnessSigner.generate(WITNESS_NAME).verifier().key_string()  # same name, not it
    result = deployment.verify_log("--witness-key", other)
    assert result.exit_code == 1
    assert "has no valid known cosignature" in result.output
