"""The outsider's audit of the access log (`clinic log …`): it trusts the log's and the
witness's keys and nothing the server says without a proof. Against this project's server
(its public log routes) and a real witness process."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from clinic_client import log_cli
from clinic_client.cli import app
from clinic_client.log_audit import AuditFailed, LogAuditor
from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log import log as access_log
from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity
from qualification_server.models import AccessRecord, LogCheckpoint, TreeHead, TreeNode
from qualification_server.witness.client import WitnessClient
from tests.qualification_server.test_access_tree import add_records, seal_all
from tests.support.world import World
from tests.witness.support import WitnessProcess, init_witness

pytestmark = pytest.mark.db

ORIGIN = "onshi.test/access-log"


@dataclass
class Log:
    world: World
    signer: Ed25519Signer
    witness_key: str
    witness: WitnessProcess

    def checkpoint(self) -> None:
        """The sealer's round: seal, sign, have the witness cosign."""
        seal_all(self.world)
        with WitnessClient(self.witness.url) as client:
            identity = LogIdentity(ORIGIN, self.signer)
            Checkpointer(self.world.deps.sessions, identity, [client]).run_once()

    def auditor(self) -> LogAuditor:
        return LogAuditor(
            "http://testserver", log_key=self.signer.verifier().key_string(),
            witness_keys=[self.witness_key], origin=ORIGIN, client=self.world.client,
        )  # fmt: skip


@pytest.fixture
def log(world: World, tmp_path: Path) -> Iterator[Log]:
    signer = Ed25519Signer.generate(ORIGIN)
    key, verifier = init_witness(tmp_path)
    logs = [f"{ORIGIN}={signer.verifier().key_string()}"]
    process = WitnessProcess(key, tmp_path / "state.json", logs, tmp_path / "w.err")
    process.start()
    try:
        yield Log(world, signer, verifier.key_string(), process)
    finally:
        process.stop()


def test_an_honest_log_extends_what_the_auditor_kept(log: Log, tmp_path: Path) -> None:
    add_records(log.world, 10)
    log.checkpoint()
    auditor = log.auditor()
    kept, first = auditor.audit(tmp_path / "audit.note")
    assert kept is None and first.checkpoint.size == 10
    assert [name for name, _ in first.witnessed] == [log.witness_key.split("+")[0]]
    add_records(log.world, 7, start=10)
    log.checkpoint()
    kept, latest = auditor.audit(tmp_path / "audit.note")
    assert kept is not None and (kept.checkpoint.size, latest.checkpoint.size) == (10, 17)
    # Each record is in the tree the checkpoint names.
    with log.world.deps.sessions() as session:
        record = session.get(AccessRecord, 3)
        assert record is not None and record.chain_pos is not None
        leaf = access_log.canonical(record, record.chain_pos)
    auditor.check_included(leaf, record.chain_pos - 1, latest)
    with pytest.raises(AuditFailed, match="is not in the tree"):
        auditor.check_included(leaf + b" ", record.chain_pos - 1, latest)


def test_a_rewritten_log_does_not_extend_the_kept_checkpoint(log: Log, tmp_path: Path) -> None:
    add_records(log.world, 10)
    log.checkpoint()
    state = tmp_path / "audit.note"
    log.auditor().audit(state)
    # An insider edits a record, recomputes the tree and has the server sign it. The witness
    # refuses to cosign a fork, so the auditor sees no witnessed checkpoint of it; even one
    # signed by the log alone (an auditor that trusts no witness) does not extend the kept one.
    world = log.world
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord).where(AccessRecord.chain_pos == 4).values(method="face")
        )
        session.execute(update(AccessRecord).values(chain_pos=None))
        session.execute(delete(TreeNode))
        session.execute(delete(LogCheckpoint))
        session.execute(update(TreeHead).values(size=0, root=merkle.EMPTY_ROOT))
    add_records(world, 2, start=10)
    seal_all(world)
    Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, log.signer), []).run_once()
    unwitnessed = LogAuditor(
        "http://testserver", log_key=log.signer.verifier().key_string(), witness_keys=[],
        origin=ORIGIN, client=world.client,
    )  # fmt: skip
    with pytest.raises(AuditFailed, match="does not extend size 10"):
        unwitnessed.audit(state)
    with pytest.raises(AuditFailed, match="did not cosign"):
        log.auditor().audit(state)


def test_the_cli_audits_and_names_what_broke(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_records(log.world, 5)
    log.checkpoint()
    state = tmp_path / "audit.note"
    args = ["log", "audit", "--state", str(state), "--server", "http://testserver",
            "--log-key", log.signer.verifier().key_string(), "--witness-key", log.witness_key,
            "--origin", ORIGIN]  # fmt: skip
    # The CLI makes its own HTTP client; here it reaches the world's app through the world's.
    made = log_cli.LogAuditor
    monkeypatch.setattr(
        log_cli, "LogAuditor", lambda *a, **kw: made(*a, **{**kw, "client": log.world.client})
    )
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "first checkpoint kept; tree size 5 root" in first.output
    state.write_text(state.read_text().replace("\n5\n", "\n6\n"))  # a forged kept note
    forged = CliRunner().invoke(app, args)
    assert forged.exit_code == 1
    assert "not signed by the log's key" in forged.output


def test_a_saved_access_history_is_checked_offline_record_by_record(
    world: World, tmp_path: Path
) -> None:
    from onshi_kernel.transparency.checkpoint import WitnessSigner
    from tests.qualification_server.test_access_tree import FakeWitness

    world.register("yamada-taro")
    world.check("yamada-taro")
    signer = Ed25519Signer.generate(ORIGIN)
    witness = FakeWitness(signer)
    seal_all(world)
    Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, signer), [witness]).run_once()
    world.check("yamada-taro")  # newer than the checkpoint
    proof = world.proof("yamada-taro", world.portal_challenge())
    answer = world.client.post("/portal/v1/access-history", json={"proof": proof}).json()
    saved = {
        "checkpoint": answer["checkpoint"],
        "entries": [
            {k: e.get(k) for k in ("leaf", "leaf_index", "inclusion_proof", "recorded_at")}
            for e in answer["entries"]
        ],
    }
    document = tmp_path / "onshi-access-proofs.json"
    document.write_text(json.dumps(saved))
    keys = ["--log-key", signer.verifier().key_string(),
            "--witness-key", witness.key.verifier().key_string(), "--origin", ORIGIN]  # fmt: skip
    done = CliRunner().invoke(app, ["log", "verify-history", str(document), *keys])
    assert done.exit_code == 0, done.output
    assert "2 verified, 1 pending, 0 failed" in done.output
    assert f"tree size {witness.size} root" in done.output
    # One record's bytes changed (who looked, say): that record fails, by its leaf.
    proved = next(e for e in saved["entries"] if e["inclusion_proof"])
    leaf = base64.b64decode(proved["leaf"]).replace(b"pin", b"pan", 1)
    proved["leaf"] = base64.b64encode(leaf).decode()
    document.write_text(json.dumps(saved))
    done = CliRunner().invoke(app, ["log", "verify-history", str(document), *keys])
    assert done.exit_code == 1
    assert "1 verified, 1 pending, 1 failed" in done.output
    # Another witness's key: the checkpoint itself is refused.
    other = WitnessSigner.generate("witness.test/other").verifier().key_string()
    keys[3] = other
    done = CliRunner().invoke(app, ["log", "verify-history", str(document), *keys])
    assert done.exit_code == 1 and "did not cosign" in done.output
