"""The log's receipts (`onshi_kernel.transparency.receipt`): their text, their signature,
and that neither a receipt nor a checkpoint can be taken for the other."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi_kernel.transparency.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from onshi_kernel.transparency.note import Ed25519Signer, NoteError
from onshi_kernel.transparency.receipt import (
    Receipt,
    ReceiptError,
    canonical_json,
    content_digest,
    decode_header,
    encode_header,
    leaf_document,
    open_receipt,
    receipt_for,
    record_content,
    sign_receipt,
)

ORIGIN = "onshi.test/access-log"
MADE = dt.datetime(2026, 12, 2, 9, 30, 0, 123456, tzinfo=dt.UTC)
RECORD = {
    "id": 17,
    "recorded_at": MADE.isoformat(timespec="microseconds"),
    "clinic_code": "1312345678",
    "person_ref": "p-1",
    "method": "pin",
    "request": '{"reference":"card"}',
    "answer": '{"validity":"1"}',
}


def test_a_receipt_reads_as_documented() -> None:
    receipt = receipt_for(ORIGIN, MADE, [RECORD, {**RECORD, "id": 18}])
    digest = base64.b64encode(content_digest(RECORD)).decode()
    lines = receipt.body().splitlines()
    assert lines[:3] == [ORIGIN, "receipt 2026-12-02T09:30:00.123456+00:00", f"17 {digest}"]
    assert lines[3].startswith("18 ")
    assert Receipt.parse(receipt.body()) == receipt


def test_the_content_is_the_leaf_without_its_position() -> None:
    leaf = canonical_json({**RECORD, "pos": 5})
    assert leaf_document(leaf)["pos"] == 5
    assert record_content(leaf_document(leaf)) == canonical_json(RECORD)
    assert content_digest(leaf_document(leaf)) == content_digest(RECORD)
    # the log's JSON, not another spelling of it
    with pytest.raises(ReceiptError, match="canonical"):
        leaf_document(leaf.replace(b",", b", ", 1))
    with pytest.raises(ReceiptError, match="not JSON"):
        leaf_document(b"\xff")


def test_signed_opened_and_carried_in_a_header() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    note = sign_receipt(receipt_for(ORIGIN, MADE, [RECORD]), signer)
    value = encode_header(note)
    assert "\n" not in value and "=" not in value
    assert open_receipt(decode_header(value), signer.verifier(), ORIGIN).records[0][0] == 17
    with pytest.raises(NoteError):
        open_receipt(note, Ed25519Signer.generate(ORIGIN).verifier())
    with pytest.raises(ReceiptError, match="another log"):
        open_receipt(note, signer.verifier(), "elsewhere.example/log")
    edited = note.replace("17 ", "19 ", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        open_receipt(edited, signer.verifier())
    with pytest.raises(ReceiptError):
        decode_header("%%%")


def test_a_receipt_is_not_a_checkpoint_and_a_checkpoint_not_a_receipt() -> None:
    """One key signs both: their texts must not be taken for each other."""
    signer = Ed25519Signer.generate(ORIGIN)
    receipt = sign_receipt(receipt_for(ORIGIN, MADE, [RECORD]), signer)
    with pytest.raises(NoteError, match="tree size"):
        open_checkpoint(receipt, signer.verifier())
    checkpoint = sign_checkpoint(Checkpoint(ORIGIN, 17, bytes(32)), signer)
    with pytest.raises(ReceiptError, match="not a receipt"):
        open_receipt(checkpoint, signer.verifier())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"{ORIGIN}\nreceipt {MADE.isoformat()}\n", "at least one record"),
        (f"{ORIGIN}\nreceipt yesterday\n1 {'A' * 43}=\n", "RFC 3339"),
        (f"{ORIGIN}\nreceipt {MADE.isoformat()}\n01 {'A' * 43}=\n", "'<id> <digest>'"),
        (f"{ORIGIN}\nreceipt {MADE.isoformat()}\n1 {'A' * 43}\n", "base64"),
        (f"{ORIGIN}\nreceipt {MADE.isoformat()}\n1 {'A' * 42}==\n", "32 bytes"),
        (f"{ORIGIN}\nreceipt {MADE.isoformat()}\n1 {'A' * 43}=\n1 {'A' * 43}=\n", "twice"),
        (f"{ORIGIN}\nreceipt 2026-12-02T09:30:00+09:00\n1 {'A' * 43}=\n", "canonical"),
        (f"{ORIGIN}\nreceipt 2026-12-02T09:30:00\n1 {'A' * 43}=\n", "time zone"),
    ],
)
def test_what_is_not_a_receipt_says_why(body: str, reason: str) -> None:
    with pytest.raises(ReceiptError, match=reason):
        Receipt.parse(body)


@given(
    ids=st.lists(st.integers(1, 2**63 - 1), min_size=1, max_size=20, unique=True),
    text=st.text(max_size=40),
)
def test_any_receipt_round_trips(ids: list[int], text: str) -> None:
    records = [{**RECORD, "id": i, "answer": text} for i in ids]
    receipt = receipt_for(ORIGIN, MADE, records)
    assert Receipt.parse(receipt.body()) == receipt
