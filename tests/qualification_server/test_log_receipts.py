"""Issue 18, item 5: the unsealed window. Every answered card check and insured-number lookup
carries the log's signed receipt for the records it made; the clinic keeps it and later
checks, through `POST /v1/log/records/proofs` and a real witness's checkpoint, that each
record is in the witnessed tree as signed (`clinic_client.log_receipts`). An insider who
deletes or edits a record before it is sealed is caught by the receipt; one who waits until
after is caught by the witness (test_insider_attacks.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from clinic_client import log_cli
from clinic_client.api import QualificationClient
from clinic_client.cli import app as clinic_app
from clinic_client.log_audit import LogAuditor
from clinic_client.log_receipts import (
    KeptReceipt,
    ReceiptBook,
    Verdict,
    check_receipts,
)
from onshi_kernel.transparency.note import NoteError
from onshi_kernel.transparency.receipt import (
    RECEIPT_HEADER,
    content_digest,
    decode_header,
    encode_header,
    leaf_document,
    open_receipt,
)
from qualification_server.access_log import log as access_log
from qualification_server.access_log.checkpoints import Checkpointer
from qualification_server.contract.schemas import InsuredCardQuery
from qualification_server.models import AccessRecord
from qualification_server.witness.client import WitnessClient
from tests.qualification_server.test_access_tree import seal_all
from tests.qualification_server.test_lookups_and_portal import query
from tests.support.world import World
from tests.witness.support import WitnessProcess, init_witness

pytestmark = pytest.mark.db


def checked(world: World, label: str = "yamada-taro") -> str:
    """One answered PIN check of `label`; its receipt header."""
    response = world.check_response(label)
    assert response.status_code == 200, response.text
    return response.headers[RECEIPT_HEADER]


def record_ids(world: World, header: str) -> list[int]:
    """The record ids a receipt header names (its signature verified)."""
    receipt = open_receipt(decode_header(header), world.deps.log_identity.verifier)
    return [record_id for record_id, _ in receipt.records]


def test_a_card_checks_answer_carries_the_logs_receipt_for_its_record(world: World) -> None:
    world.register("yamada-taro")
    receipt = open_receipt(decode_header(checked(world)), world.deps.log_identity.verifier)
    ((record_id, digest),) = receipt.records
    seal_all(world)
    with world.deps.sessions() as session:
        record = session.get(AccessRecord, record_id)
        assert record is not None and record.chain_pos is not None
        assert record.clinic_code == world.clinic_token.split(".")[0]
        leaf = access_log.canonical(record, record.chain_pos)
    assert receipt.origin == world.deps.settings.log_origin
    assert receipt.made_at == record.recorded_at.replace(tzinfo=dt.UTC)
    # the sealed record's leaf, parsed back, is the content the receipt was signed for
    assert content_digest(leaf_document(leaf)) == digest


def test_the_receipt_is_the_logs_own_signature_and_no_other(world: World) -> None:
    world.register("yamada-taro")
    note = decode_header(checked(world))
    other = type(world.deps.log_identity.signer).generate(world.deps.settings.log_origin)
    with pytest.raises(NoteError):
        open_receipt(note, other.verifier())
    with pytest.raises(NoteError, match="another log"):
        open_receipt(note, world.deps.log_identity.verifier, origin="elsewhere.example/log")


def test_the_fhir_answer_carries_the_receipt_too(world: World) -> None:
    world.register("yamada-taro")
    response = world.check_response("yamada-taro", path="/fhir/v1/eligibility/card")
    assert response.status_code == 200, response.text
    receipt = open_receipt(
        decode_header(response.headers[RECEIPT_HEADER]), world.deps.log_identity.verifier
    )
    assert len(receipt.records) == 1


def test_an_insured_number_lookup_carries_a_receipt_a_refusal_none(world: World) -> None:
    response = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800401", InsuredCardSymbol="記号12")},
        headers=world.headers(),
    )
    assert response.status_code == 200, response.text
    receipt = open_receipt(
        decode_header(response.headers[RECEIPT_HEADER]), world.deps.log_identity.verifier
    )
    with world.deps.sessions() as session:
        (record_id,) = [record_id for record_id, _ in receipt.records]
        record = session.get(AccessRecord, record_id)
        assert record is not None and record.method == "insured-number"
    refused = world.client.post(
        "/v1/eligibility/insured-number",
        json={"query": query("1001", "19800402", InsuredCardSymbol="記号12")},
        headers=world.headers(),
    )
    assert refused.status_code == 404
    assert RECEIPT_HEADER not in refused.headers


def _proofs(world: World, ids: list[int], token: str | None = None) -> dict:  # type: ignore[type-arg]
    response = world.client.post(
        "/v1/log/records/proofs", json={"ids": ids}, headers=world.headers(token)
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_proofs_route_answers_a_clinic_for_its_own_records_only(world: World) -> None:
    world.register("yamada-taro")
    receipt = open_receipt(decode_header(checked(world)), world.deps.log_identity.verifier)
    ((record_id, _),) = receipt.records
    assert _proofs(world, [record_id])["records"] == [{"id": record_id, "state": "unsealed",
        "leaf": None, "leaf_index": None, "inclusion_proof": None}]  # fmt: skip
    seal_all(world)
    (sealed,) = _proofs(world, [record_id])["records"]
    assert sealed["state"] == "not witnessed yet" and sealed["leaf"]
    # another clinic learns nothing of it, not even that it exists
    (other,) = _proofs(world, [record_id], world.other_clinic_token)["records"]
    assert other == {"id": record_id, "state": "not found", "leaf": None, "leaf_index": None,
                     "inclusion_proof": None}  # fmt: skip
    unauthenticated = world.client.post("/v1/log/records/proofs", json={"ids": [record_id]})
    assert unauthenticated.status_code == 401
    too_many = world.client.post(
        "/v1/log/records/proofs", json={"ids": list(range(1, 502))}, headers=world.headers()
    )
    assert too_many.status_code == 422


@dataclass
class Witnessed:
    """The world with a real witness process that the log's checkpoints go to."""

    world: World
    witness: WitnessProcess
    witness_key: str

    def witness_now(self) -> None:
        seal_all(self.world)
        with WitnessClient(self.witness.url) as client:
            Checkpointer(
                self.world.deps.sessions, self.world.deps.log_identity, [client]
            ).run_once()

    def check(self, kept: list[KeptReceipt], **options: object) -> list[Verdict]:
        auditor = LogAuditor(
            "http://testserver", log_key=self.log_key, witness_keys=[self.witness_key],
            client=self.world.client,
        )  # fmt: skip
        _, checks = check_receipts(
            auditor,
            kept,
            token=self.world.clinic_token,
            log_key=self.log_key,
            **options,  # type: ignore[arg-type]
        )
        return [check.verdict for check in checks]

    @property
    def log_key(self) -> str:
        return self.world.deps.log_identity.verifier.key_string()


@pytest.fixture
def witnessed(world: World, tmp_path: Path) -> Iterator[Witnessed]:
    witness_key, verifier = init_witness(tmp_path)
    identity = world.deps.log_identity
    log = f"{identity.origin}={identity.verifier.key_string()}"
    process = WitnessProcess(witness_key, tmp_path / "state.json", [log], tmp_path / "w.err")
    process.start()
    try:
        world.register("yamada-taro")
        world.register("suzuki-hanako")
        yield Witnessed(world, process, verifier.key_string())
    finally:
        process.stop()


def _kept(receipt: str, minutes_ago: float = 0) -> KeptReceipt:
    return KeptReceipt(receipt, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago), "/")


def test_an_untouched_record_is_pending_then_verified(witnessed: Witnessed) -> None:
    receipt = checked(witnessed.world)
    assert witnessed.check([_kept(receipt)]) == [Verdict.PENDING]
    witnessed.witness_now()
    assert witnessed.check([_kept(receipt)]) == [Verdict.VERIFIED]


def test_a_record_deleted_before_it_was_sealed_is_missing_at_once(witnessed: Witnessed) -> None:
    world = witnessed.world
    kept, dropped = checked(world), checked(world, "suzuki-hanako")
    (dropped_id,) = record_ids(world, dropped)
    with world.deps.sessions() as session, session.begin():  # the insider, within the second
        session.execute(delete(AccessRecord).where(AccessRecord.id == dropped_id))
    witnessed.witness_now()
    with world.deps.sessions() as session:
        assert access_log.verify_chain(session) is None  # the tree alone cannot tell
    assert witnessed.check([_kept(kept), _kept(dropped)]) == [Verdict.VERIFIED, Verdict.MISSING]


def test_a_record_edited_before_it_was_sealed_is_changed(witnessed: Witnessed) -> None:
    world = witnessed.world
    receipt = checked(world)
    (record_id,) = record_ids(world, receipt)
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord)
            .where(AccessRecord.id == record_id)
            .values(clinic_code="0000000000")
        )
    witnessed.witness_now()
    # the clinic code changed: to this clinic the record is gone
    assert witnessed.check([_kept(receipt)]) == [Verdict.MISSING]
    with world.deps.sessions() as session, session.begin():
        clinic = world.clinic_token.split(".")[0]
        session.execute(
            update(AccessRecord).where(AccessRecord.id == record_id).values(clinic_code=clinic)
        )
    second = checked(world)
    (second_id,) = record_ids(world, second)
    with world.deps.sessions() as session, session.begin():
        session.execute(
            update(AccessRecord).where(AccessRecord.id == second_id).values(method="portal")
        )
    witnessed.witness_now()
    assert witnessed.check([_kept(second)]) == [Verdict.CHANGED]


def test_a_record_never_sealed_is_overdue_after_the_grace(witnessed: Witnessed) -> None:
    receipt = checked(witnessed.world)
    witnessed.witness_now()
    late = checked(witnessed.world)  # made after the last checkpoint, never witnessed
    verdicts = witnessed.check([_kept(receipt), _kept(late)], grace=dt.timedelta(0))
    assert verdicts == [Verdict.VERIFIED, Verdict.OVERDUE]


def test_a_forged_receipt_proves_nothing(witnessed: Witnessed) -> None:
    receipt = checked(witnessed.world)
    note = decode_header(receipt)
    forged = note.replace(note.splitlines()[2].split(" ")[1], base64.b64encode(bytes(32)).decode())
    assert witnessed.check([_kept(encode_header(forged))]) == [Verdict.NOT_A_RECEIPT]


def test_the_desks_client_keeps_every_answers_receipt_in_its_book(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """The desk's client keeps every answer's receipt; verified ones can be dropped."""
    world = witnessed.world
    book = ReceiptBook(tmp_path / "receipts.jsonl")
    client = QualificationClient("http://testserver", world.clinic_token, http=world.client,
                                 receipts=book)  # fmt: skip
    challenge = base64.b64decode(world.challenge())
    proof = world.proof("yamada-taro", base64.b64encode(challenge).decode())
    client.check_card(
        challenge=challenge,
        certificate=base64.b64decode(proof["certificate"]),
        proof={"method": "pin", "signature": proof["signature"]},
    )
    client.lookup(
        InsuredCardQuery.model_validate(query("1001", "19800401", InsuredCardSymbol="記号12"))
    )
    assert [kept.route for kept in book.read()] == [
        "/v1/eligibility/card",
        "/v1/eligibility/insured-number",
    ]
    witnessed.witness_now()
    assert witnessed.check(book.read()) == [Verdict.VERIFIED, Verdict.VERIFIED]
    assert book.forget({kept.receipt for kept in book.read()[:1]}) == 1
    assert [kept.route for kept in book.read()] == ["/v1/eligibility/insured-number"]


def test_check_receipts_says_what_the_log_did_with_each_record(
    witnessed: Witnessed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`clinic log check-receipts`, as the clinic runs it: the desk's settings, its book."""
    world = witnessed.world
    book = ReceiptBook(tmp_path / "receipts.jsonl")
    kept, dropped = checked(world), checked(world, "suzuki-hanako")
    book.keep(kept, "/v1/eligibility/card")
    book.keep(dropped, "/v1/eligibility/card")
    env = {
        "ONSHI_CLINIC_TOKEN": world.clinic_token,
        "ONSHI_CLINIC_SERVER_URL": "http://testserver",
        "ONSHI_CLINIC_LOG_KEY": witnessed.log_key,
        "ONSHI_CLINIC_LOG_WITNESS_KEYS": json.dumps([witnessed.witness_key]),
        "ONSHI_CLINIC_LOG_RECEIPTS_FILE": str(book.path),
    }
    # The CLI makes its own HTTP client; here it reaches the world's app through the world's.
    made = log_cli.LogAuditor
    monkeypatch.setattr(
        log_cli, "LogAuditor", lambda *a, **kw: made(*a, **{**kw, "client": world.client})
    )
    monkeypatch.setattr(made, "close", lambda self: None)  # the world's client stays open
    pending = CliRunner().invoke(clinic_app, ["log", "check-receipts"], env=env)
    assert pending.exit_code == 0, pending.output
    assert "no witnessed checkpoint yet" in pending.output and "2 pending" in pending.output
    (dropped_id,) = record_ids(world, dropped)
    with world.deps.sessions() as session, session.begin():
        session.execute(delete(AccessRecord).where(AccessRecord.id == dropped_id))
    witnessed.witness_now()
    caught = CliRunner().invoke(clinic_app, ["log", "check-receipts", "--forget-verified"], env=env)
    assert caught.exit_code == 1, caught.output
    assert f"record {dropped_id}\tmissing: the log has no such record" in caught.output
    assert "1 verified, 1 missing" in caught.output
    assert "1 verified receipts dropped" in caught.output
    assert [k.receipt for k in book.read()] == [dropped]  # the evidence stays
