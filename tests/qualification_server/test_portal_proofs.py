"""The person's access history carries, for each record, its bytes as the log hashes them and
its inclusion proof in the latest witnessed checkpoint, which the answer carries too: the
person checks every record against keys they trust, not against the server's word."""

from __future__ import annotations

import base64

import pytest

from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.checkpoint import open_checkpoint, verify_cosignature
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity
from qualification_server.contract.schemas import AccessHistory
from tests.qualification_server.test_access_tree import ORIGIN, FakeWitness, seal_all
from tests.support.world import World

pytestmark = pytest.mark.db


def viewed(world: World, label: str) -> AccessHistory:
    proof = world.proof(label, world.portal_challenge())
    response = world.client.post("/portal/v1/access-history", json={"proof": proof})
    assert response.status_code == 200, response.text
    return AccessHistory.model_validate(response.json())


def test_every_witnessed_record_comes_with_a_proof_that_verifies(world: World) -> None:
    world.register("yamada-taro")
    for _ in range(3):
        status, _ = world.check("yamada-taro")
        assert status == 200
    log_key = Ed25519Signer.generate(ORIGIN)
    witness = FakeWitness(log_key)
    seal_all(world)
    Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, log_key), [witness]).run_once()
    world.check("yamada-taro")  # after the checkpoint: recorded, not yet in a witnessed tree

    history = viewed(world, "yamada-taro")

    assert history.checkpoint is not None
    checkpoint = open_checkpoint(history.checkpoint, log_key.verifier(), ORIGIN)
    verify_cosignature(history.checkpoint, witness.key.verifier())
    proved = [e for e in history.entries if e.inclusion_proof is not None]
    assert len(proved) == 4  # the registration and three checks
    for entry in proved:
        assert entry.leaf is not None and entry.leaf_index is not None
        merkle.verify_inclusion(
            merkle.leaf_hash(base64.b64decode(entry.leaf)), entry.leaf_index, checkpoint.size,
            [base64.b64decode(h) for h in entry.inclusion_proof], checkpoint.root,
        )  # fmt: skip
    newest = history.entries[0]  # newest first: the check after the checkpoint
    assert newest.inclusion_proof is None
    # A record's bytes are the person's own record: their person reference, never a name.
    leaf = base64.b64decode(proved[0].leaf or "").decode()
    assert "yamada" not in leaf.lower() and "山田" not in leaf


def test_before_any_witnessed_checkpoint_there_is_nothing_to_check_against(
    world: World,
) -> None:
    world.register("suzuki-hanako")
    seal_all(world)
    history = viewed(world, "suzuki-hanako")
    assert history.checkpoint is None
    assert all(e.inclusion_proof is None for e in history.entries)
    assert any(e.leaf is not None for e in history.entries)  # sealed, so its bytes are known
