"""The page's proof checker (`portal_web/static/transparency.js`) in a real headless Chromium,
on vectors the Python kernel makes here: it accepts every good record with Python's root,
refuses every tampered one with a reason, agrees with the kernel's verifier on every
corruption of every proof, and reads the published RFC 6962 and Go note vectors as the
kernel does. No server: the script runs in an empty page on http://localhost (WebCrypto
needs a secure context, which about:blank is not)."""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from onshi_kernel.transparency.checkpoint import (
    Checkpoint,
    WitnessSigner,
    WitnessVerifier,
    cosign,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.merkle import (
    ProofError,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion,
    root_of,
    verify_inclusion,
)
from onshi_kernel.transparency.note import (
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    NoteSignature,
    open_note,
    split_note,
)

SCRIPT = Path(__file__).parents[2] / "clinic_client" / "portal_web" / "static" / "transparency.js"
DOC = Path(__file__).parents[2] / "docs" / "access-log.md"
ORIGIN = "onshi.example/access-log"
NOW = dt.datetime(2026, 12, 2, 15, 0, 0, tzinfo=dt.UTC)
h = bytes.fromhex

# The RFC 6962 reference vectors as published by transparency-dev/merkle
# (testonly/constants.go, proof/verify_test.go), as tests/kernel/test_merkle.py has them.
LEAF_INPUTS = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"),
               h("5051525354555657"), h("606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = {  # by tree size
    1: h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    2: h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    3: h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    4: h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    5: h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    6: h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    7: h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    8: h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}
N00 = h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
N01 = h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
N04 = h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")
N10 = h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
N11 = h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e")
N13 = h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0")
N20 = h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")
N21 = h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")
INCLUSION_VECTORS = [  # (0-based index, tree size, the reference proof)
    (0, 8, [N01, N11, N21]),
    (5, 8, [N04, N13, N20]),
    (2, 3, [N10]),
    (1, 5, [N00, N11, N04]),
]

# golang.org/x/mod, sumdb/note/note_test.go, as tests/kernel/test_checkpoint.py has them.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)
# transparency-dev/formats, note/note_cosigv1_test.go: a type 0x04 key and a type 0x01 one.
WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
# C2SP tlog-checkpoint.md: the example checkpoint.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

# One checkRecord call per case, the answer made plain for the wire (BigInt, Date).
CHECK = """async (cases) => Promise.all(cases.map(async (c) => {
  const r = await OnshiTransparency.checkRecord(c);
  return {ok: r.ok, size: r.size === null ? null : String(r.size), root: r.root,
          reason: r.reason, step: r.step,
          witnessedBy: r.witnessedBy.map((w) => [w.name, w.time.toISOString()])};
}))"""

# Python's verify_inclusion and the script's, on the same (leaf hash, index, size, proof, root).
INCLUSION = """async (cases) => {
  const T = OnshiTransparency, b = (s) => T.fromBase64(s);
  return Promise.all(cases.map(async ([leaf, index, size, proof, root]) => {
    try {
      await T.verifyInclusion(b(leaf), index, size, proof.map(b), b(root));
      return null;
    } catch (e) { return e.reason ?? String(e); }
  }));
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def flip(data: bytes, byte: int, bit: int = 0) -> bytes:
    return data[:byte] + bytes([data[byte] ^ (1 << bit)]) + data[byte + 1 :]


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()

    def blank(route: Route) -> None:
        route.fulfill(body="<!doctype html><title>check</title>", content_type="text/html")

    page.route("http://localhost/**", blank)
    page.goto("http://localhost/")
    page.add_script_tag(path=str(SCRIPT))
    assert page.evaluate("typeof OnshiTransparency.checkRecord") == "function"
    yield page
    context.close()


@dataclass(frozen=True)
class Tree:
    """A log of random records, its checkpoint signed by the log and cosigned by the witness."""

    data: list[bytes]
    hashes: list[bytes]
    root: bytes
    note: str

    def case(self, record: int, **changes: Any) -> dict[str, Any]:
        """The page's input for leaf `record`, with `changes` made to it."""
        case: dict[str, Any] = {
            "checkpointNote": self.note,
            "logKey": LOG.verifier().key_string(),
            "witnessKeys": [WITNESS.verifier().key_string()],
            "leafBase64": b64(self.data[record]),
            "index": record,
            "proofBase64": [b64(p) for p in inclusion_proof(record, self.hashes)],
            "origin": ORIGIN,
        }
        return case | changes


LOG = Ed25519Signer.generate(ORIGIN)
WITNESS = WitnessSigner.generate("witness.example/w1")


def signed(checkpoint: Checkpoint, witness: WitnessSigner | None = WITNESS) -> str:
    note = sign_checkpoint(checkpoint, LOG)
    return note if witness is None else cosign(note, witness, NOW)


def tree(size: int, seed: int) -> Tree:
    rng = random.Random(seed)
    data = [rng.randbytes(rng.randrange(0, 40)) for _ in range(size)]
    hashes = [leaf_hash(d) for d in data]
    root = root_of(hashes)
    return Tree(data, hashes, root, signed(Checkpoint(ORIGIN, size, root)))


TREES = {size: tree(size, seed=1800 + size) for size in range(1, 41)}


def check(page: Page, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = page.evaluate(CHECK, cases)
    return answers


def refused(page: Page, case: dict[str, Any], step: str, reason: str) -> None:
    (answer,) = check(page, [case])
    assert not answer["ok"], case
    assert answer["step"] == step, answer
    assert reason in answer["reason"], answer


# --- Good records ---


def test_every_record_of_every_tree_is_accepted_with_pythons_root(page: Page) -> None:
    cases = [(t, i) for t in TREES.values() for i in range(len(t.data))]
    answers = check(page, [t.case(i) for t, i in cases])
    assert len(answers) == sum(range(1, 41))
    for (t, _), answer in zip(cases, answers, strict=True):
        assert answer == {
            "ok": True,
            "size": str(len(t.data)),
            "root": b64(t.root),
            "reason": None,
            "step": None,
            "witnessedBy": [["witness.example/w1", "2026-12-02T15:00:00.000Z"]],
        }


def test_the_rfc_6962_roots_and_proofs(page: Page) -> None:
    leaves = page.evaluate(
        "async (xs) => Promise.all(xs.map(async (x) => OnshiTransparency.toBase64("
        "await OnshiTransparency.leafHash(OnshiTransparency.fromBase64(x)))))",
        [b64(x) for x in LEAF_INPUTS],
    )
    assert leaves == [b64(leaf_hash(x)) for x in LEAF_INPUTS]
    assert leaves[0] == b64(N00) and leaves[1] == b64(N01) and leaves[4] == b64(N04)
    pairs = page.evaluate(
        "async ([l, r]) => OnshiTransparency.toBase64(await OnshiTransparency.nodeHash("
        "OnshiTransparency.fromBase64(l), OnshiTransparency.fromBase64(r)))",
        [b64(N00), b64(N01)],
    )
    assert pairs == b64(N10)
    # Every leaf of every reference tree leads to the reference root...
    cases = [
        (b64(leaf_hash(LEAF_INPUTS[i])), i, size,
         [b64(p) for p in inclusion_proof(i, [leaf_hash(x) for x in LEAF_INPUTS[:size]])],
         b64(root))
        for size, root in ROOTS.items() for i in range(size)
    ]  # fmt: skip
    # ...and so do the published proofs.
    cases += [
        (b64(leaf_hash(LEAF_INPUTS[i])), i, size, [b64(p) for p in proof], b64(ROOTS[size]))
        for i, size, proof in INCLUSION_VECTORS
    ]
    assert page.evaluate(INCLUSION, cases) == [None] * len(cases)


DOC_LOG_KEY = "onshi.example/access-log+6ac2a4e3+AfiY2ciqTpLdh9Rf6cpLv131tp2dOEOHHYPGa+qoA53Y"
DOC_WITNESS_KEY = "witness.example/onshi+95e0f924+BPUYx6pQzMmuPB6SnZQCW83XhF74osrwgtsWikR+JrYY"


def test_the_example_in_the_docs_verifies_in_the_page(page: Page) -> None:
    doc = DOC.read_text(encoding="utf-8")
    note = doc.split("```\n", 2)[1].split("```")[0]
    hashes = [leaf_hash(bytes([i])) for i in range(7)]
    cases = [
        {
            "checkpointNote": note,
            "logKey": DOC_LOG_KEY,
            "witnessKeys": [DOC_WITNESS_KEY],
            "leafBase64": b64(bytes([i])),
            "index": i,
            "proofBase64": [b64(p) for p in inclusion_proof(i, hashes)],
        }
        for i in range(7)
    ]
    for answer in check(page, cases):
        assert answer["ok"], answer
        assert answer["size"] == "7" and answer["root"] == b64(root_of(hashes))
        assert answer["witnessedBy"] == [["witness.example/onshi", "2026-12-02T06:00:00.000Z"]]


# --- The proof: the script's verifier is the kernel's ---


def _python_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> str | None:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError as error:
        return error.reason
    return None


def test_the_script_refuses_every_corrupted_proof_as_the_kernel_does(page: Page) -> None:
    rng = random.Random(18)
    cases: list[tuple[bytes, int, int, list[bytes], bytes]] = []
    for size, t in TREES.items():
        for index in range(size):
            leaf, proof = t.hashes[index], inclusion_proof(index, t.hashes)
            cases.append((leaf, index, size, proof, t.root))
            cases.append(
                (flip(leaf, rng.randrange(32), rng.randrange(8)), index, size, proof, t.root)
            )
            cases.append((leaf, index, size, proof, flip(t.root, rng.randrange(32))))
            for at in range(len(proof)):
                bad = [*proof]
                bad[at] = flip(proof[at], rng.randrange(32), rng.randrange(8))
                cases.append((leaf, index, size, bad, t.root))
            for other in {index - 1, index + 1, index ^ 1, size, size + 1} - {index}:
                if other >= 0:
                    cases.append((leaf, other, size, proof, t.root))
            for other in {size - 1, size + 1, size * 2, size + rng.randrange(1, 64)}:
                if other > 0:
                    cases.append((leaf, index, other, proof, t.root))
            cases.append((leaf, index, size, [*proof, t.root], t.root))
            if proof:
                cases.append((leaf, index, size, proof[:-1], t.root))
                cases.append((leaf, index, size, [proof[0][:31], *proof[1:]], t.root))
                cases.append((leaf, index, size, [*proof[:-1], proof[-1] + b"\0"], t.root))
            cases.append((leaf[:31], index, size, proof, t.root))
    expected = [_python_inclusion(*c) for c in cases]
    wire = [(b64(leaf), i, n, [b64(p) for p in proof], b64(r)) for leaf, i, n, proof, r in cases]
    answers = page.evaluate(INCLUSION, wire)
    assert answers == expected
    refusals = [a for a in answers if a is not None]
    assert len(refusals) > 10_000
    assert {a.split(" ")[0] for a in refusals} >= {"the", "leaf", "proof"}


def _path_length(index: int, size: int) -> int:
    for length in range(65):
        try:
            root_from_inclusion(bytes(32), index, size, [bytes(32)] * length)
        except ProofError:
            continue
        return length
    raise AssertionError("no path is that long")


def test_impossible_indices_and_sizes_are_refused(page: Page) -> None:
    leaf = b64(bytes(32))
    answers = page.evaluate(
        INCLUSION,
        [
            (leaf, 0, 0, [], leaf),
            (leaf, -1, 4, [], leaf),
            (leaf, 1.5, 4, [], leaf),
            (leaf, "01", 4, [], leaf),
            (leaf, 0, "18446744073709551616", [], leaf),
        ],
    )
    assert answers[0] == "leaf index 0 is not below the tree size 0"
    assert all("not a whole number" in a for a in answers[1:])
    # Beyond 2^53 (a Number's exact integers) the path is still computed exactly, as Python's.
    rng = random.Random(64)
    big = [(2**64 - 2, 2**64 - 1), (2**53 + 1, 2**64 - 1), (2**63 + 12345, 2**63 + 99999)]
    for index, size in big:
        path = [rng.randbytes(32) for _ in range(64)]
        length = _path_length(index, size)
        root = root_from_inclusion(bytes(32), index, size, path[:length])
        wire = (leaf, str(index), str(size), [b64(p) for p in path[:length]], b64(root))
        assert page.evaluate(INCLUSION, [wire, (*wire[:3], wire[3][:-1], wire[4])]) == [
            None,
            "the proof is shorter than the path from this leaf to the root",
        ]


# --- The record: every tampering refused, with a reason ---


def test_a_changed_record_index_or_proof_is_refused(page: Page) -> None:
    cases, reasons = [], []
    for size in (1, 2, 3, 5, 7, 8, 13, 32, 40):
        t = TREES[size]
        for i in range(size):
            good = t.case(i)
            leaf = t.data[i]
            cases.append(t.case(i, leafBase64=b64(flip(leaf, 0) if leaf else b"\0")))
            for at in range(len(good["proofBase64"])):
                proof = [*good["proofBase64"]]
                proof[at] = b64(flip(base64.b64decode(proof[at]), at % 32, at % 8))
                cases.append(t.case(i, proofBase64=proof))
            for other in {i + 1, i - 1, size} - {i}:
                if other >= 0:
                    cases.append(t.case(i, index=other))
    for answer in check(page, cases):
        assert not answer["ok"] and answer["step"] == "proof", answer
        reasons.append(answer["reason"])
    assert set(reasons) >= {
        "the proof leads to another root",
        "leaf index 1 is not below the tree size 1",
    }


def _lines(note: str) -> tuple[str, list[NoteSignature]]:
    text, signatures = split_note(note)
    return text, list(signatures)


def _note(text: str, signatures: list[NoteSignature]) -> str:
    return text + "\n" + "".join(s.line() for s in signatures)


def test_a_changed_checkpoint_is_refused(page: Page) -> None:
    t = TREES[13]
    text, (log_line, witness_line) = _lines(t.note)
    changed_size = t.note.replace("\n13\n", "\n14\n", 1)
    refused(page, t.case(5, checkpointNote=changed_size), "checkpoint", "invalid signature for key")
    # The root the log signed is not the tree's: the proof leads elsewhere.
    lying = signed(Checkpoint(ORIGIN, 13, flip(t.root, 7)))
    refused(page, t.case(5, checkpointNote=lying), "proof", "the proof leads to another root")
    flipped_root = t.note.replace(b64(t.root), b64(flip(t.root, 0)), 1)
    refused(page, t.case(5, checkpointNote=flipped_root), "checkpoint", "invalid signature")
    # Every character of the body changed: a malformed note or a bad log signature.
    answers = check(
        page,
        [t.case(5, checkpointNote=t.note[:at] + chr(ord(t.note[at]) ^ 1) + t.note[at + 1 :])
         for at in range(len(text))],
    )  # fmt: skip
    assert all(not a["ok"] and a["step"] == "checkpoint" and a["reason"] for a in answers)
    assert sum("invalid signature" in a["reason"] for a in answers) > len(text) // 2
    # Every bit of the log's signature, and of its key id.
    for at in range(len(log_line.signature)):
        bad = NoteSignature(log_line.name, log_line.key_id, flip(log_line.signature, at, at % 8))
        refused(page, t.case(0, checkpointNote=_note(text, [bad, witness_line])), "checkpoint",
                "invalid signature for key onshi.example/access-log+")  # fmt: skip
    other_id = NoteSignature(log_line.name, flip(log_line.key_id, 3), log_line.signature)
    refused(page, t.case(0, checkpointNote=_note(text, [other_id, witness_line])), "checkpoint",
            "no signature by a known key")  # fmt: skip
    refused(page, t.case(0, checkpointNote=_note(text, [witness_line])), "checkpoint",
            "no signature by a known key")  # fmt: skip
    refused(page, t.case(0, origin="other.example/log"), "checkpoint", "for another log")


def test_the_wrong_log_key_is_refused(page: Page) -> None:
    t = TREES[6]
    same_name = Ed25519Signer.generate(ORIGIN).verifier().key_string()
    refused(page, t.case(2, logKey=same_name), "checkpoint", "no signature by a known key")
    other = Ed25519Signer.generate("other.example/log").verifier().key_string()
    refused(page, t.case(2, logKey=other), "checkpoint", "no signature by a known key")
    # The witness's key is not the log's.
    refused(
        page,
        t.case(2, logKey=WITNESS.verifier().key_string()),
        "keys",
        "not an Ed25519 verifier key",
    )
    refused(page, t.case(2, logKey=PETER_VKEY[:-2]), "keys", "")


def test_a_missing_or_forged_cosignature_is_refused(page: Page) -> None:
    t = TREES[9]
    text, (log_line, witness_line) = _lines(t.note)
    alone = _note(text, [log_line])
    refused(
        page, t.case(3, checkpointNote=alone), "witness", "no cosignature by a configured witness"
    )
    refused(page, t.case(3, witnessKeys=[]), "keys", "no witness key is configured")
    # Every bit of the witness's line: its time and its signature.
    for at in range(len(witness_line.signature)):
        bad = NoteSignature(
            witness_line.name, witness_line.key_id, flip(witness_line.signature, at, at % 8)
        )
        refused(page, t.case(3, checkpointNote=_note(text, [log_line, bad])), "witness",
                "the cosignature by witness.example/w1 does not verify")  # fmt: skip
    # A cosignature of another checkpoint, moved under this one.
    elsewhere = _lines(TREES[10].note)[1][1]
    refused(page, t.case(3, checkpointNote=_note(text, [log_line, elsewhere])), "witness",
            "does not verify")  # fmt: skip
    # Another witness of the same name: its key id differs, so this one finds no line.
    impostor = cosign(sign_checkpoint(Checkpoint(ORIGIN, 9, t.root), LOG),
                      WitnessSigner.generate("witness.example/w1"), NOW)  # fmt: skip
    refused(page, t.case(3, checkpointNote=impostor), "witness", "no cosignature")
    # A good cosignature and a bad one under the same key: refused, as a known key's bad line.
    stale = NoteSignature(witness_line.name, witness_line.key_id, flip(witness_line.signature, 70))
    refused(page, t.case(3, checkpointNote=_note(text, [log_line, witness_line, stale])),
            "witness", "does not verify")  # fmt: skip
    # Two witnesses configured, one cosigned: accepted, and says which.
    second = WitnessSigner.generate("witness.example/w2").verifier().key_string()
    (answer,) = check(page, [t.case(3, witnessKeys=[second, WITNESS.verifier().key_string()])])
    assert answer["ok"] and answer["witnessedBy"] == [
        ["witness.example/w1", "2026-12-02T15:00:00.000Z"]
    ]


# --- Notes, keys and checkpoints: the published vectors, and the kernel's answers ---


def _open(page: Page, note: str | bytes, keys: list[str]) -> dict[str, Any]:
    wire = b64(note.encode() if isinstance(note, str) else note)
    answer: dict[str, Any] = page.evaluate(
        """async ([note, keys]) => {
          const T = OnshiTransparency;
          try { return {opened: await T.openNote(T.fromBase64(note), keys)}; }
          catch (e) { return {reason: e.reason ?? String(e)}; }
        }""",
        [wire, keys],
    )
    return answer


def test_the_go_note_vectors_open_as_in_go(page: Page) -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert _open(page, note, [PETER_VKEY]) == {
        "opened": {"body": TEXT, "signers": ["PeterNeumann"]}
    }
    both = _open(page, note, [PETER_VKEY, ENOCH_VKEY])
    assert both["opened"]["signers"] == ["PeterNeumann", "EnochRoot"]
    assert _open(page, note, []) == {"reason": "the note has no signature by a known key"}
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    assert _open(page, TEXT + "\n" + bad, [PETER_VKEY]) == {
        "reason": "invalid signature for key PeterNeumann+c74f20a3"
    }
    changed = TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG
    assert "invalid signature" in _open(page, changed, [PETER_VKEY])["reason"]
    enoch_bad = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    repeated = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_bad
    assert _open(page, repeated, [PETER_VKEY])["opened"]["signers"] == ["PeterNeumann"]
    ambiguous = _open(page, TEXT + "\n" + ENOCH_SIG, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY])
    assert ambiguous == {"reason": "ambiguous key EnochRoot+af0cfe78"}


MALFORMED_NOTES: list[str | bytes] = [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2],
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + PETER_SIG * 101,
    TEXT + "\n" + "— PeterNeumann AAAA\n",
    TEXT + "\n" + "— PeterNeumann not*base64\n",
    TEXT + "\n" + "— Peter\u2003Neumann " + PETER_SIG.split(" ")[2],
    TEXT + "\n" + "— PeterNeumann " + PETER_SIG.split(" ")[2][:-1] + " \n",
]


@pytest.mark.parametrize("note", MALFORMED_NOTES)
def test_a_malformed_note_is_refused(page: Page, note: str | bytes) -> None:
    with pytest.raises(NoteError):
        open_note(note, [Ed25519Verifier.from_key(PETER_VKEY)])
    assert _open(page, note, [PETER_VKEY])["reason"]


def _manglings(key: str) -> list[str]:
    b = key.encode()
    cut = [b[i:j].decode() for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)]
    bumped = [(b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode() for i in range(len(b))]
    return [k for k in cut + bumped if k != key]


PARSE_KEYS = """async ([how, keys]) => Promise.all(keys.map(async (k) => {
  try {
    const key = await OnshiTransparency[how](k);
    return [key.name, Array.from(key.keyId, (b) => b.toString(16).padStart(2, "0")).join("")];
  } catch (e) { return e.reason ?? String(e); }
}))"""


def test_the_keys_are_read_as_go_reads_them(page: Page) -> None:
    assert page.evaluate(PARSE_KEYS, ["parseVerifierKey", [PETER_VKEY, ENOCH_VKEY]]) == [
        ["PeterNeumann", "c74f20a3"],
        ["EnochRoot", "af0cfe78"],
    ]
    plus = WitnessVerifier.from_key(PLUS_VKEY)
    assert page.evaluate(PARSE_KEYS, ["parseWitnessKey", [WITNESS_VKEY, PLUS_VKEY]]) == [
        ["remora.n621.de", "da77ade7"],
        ["TEST", plus.key_id.hex()],
    ]
    mangled = [
        *_manglings(PETER_VKEY),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]
    for key in mangled:
        with pytest.raises(NoteError):
            Ed25519Verifier.from_key(key)
    answers = page.evaluate(PARSE_KEYS, ["parseVerifierKey", mangled])
    assert all(isinstance(a, str) and a for a in answers), [
        (k, a) for k, a in zip(mangled, answers, strict=True) if not isinstance(a, str)
    ]
    assert page.evaluate(
        PARSE_KEYS,
        [
            "parseWitnessKey",
            [WITNESS_VKEY.replace("da77ade7", "da77ade8"), "rekor.sigstore.dev+12345678+AwEB"],
        ],
    ) == [
        "the key id does not match the key",
        "not an Ed25519 cosignature or note key",
    ]


PARSE_CHECKPOINT = """(bodies) => bodies.map((b) => {
  try {
    const c = OnshiTransparency.parseCheckpoint(b);
    return [c.origin, String(c.size), c.rootBase64, c.extensions];
  } catch (e) { return e.reason ?? String(e); }
})"""

ZERO = b64(bytes(32))
MALFORMED_CHECKPOINTS = [
    "log\n5\n",
    "log\n5\nAAAA",
    f"\n5\n{ZERO}\n",
    f"log\n05\n{ZERO}\n",
    f"log\n-1\n{ZERO}\n",
    f"log\n+5\n{ZERO}\n",
    f"log\n５\n{ZERO}\n",
    f"log\n5\n{b64(bytes(31))}\n",
    "log\n5\nnot base64!\n",
    f"log\n5\n{ZERO}\n\n",
    f"log\n{2**64}\n{ZERO}\n",
    f"log\n5\n{ZERO[:-1]}\n",
    f"log\n5\n{ZERO[:-2]}B=\n",  # non-canonical base64
]


def test_checkpoints_are_read_as_the_kernel_reads_them(page: Page) -> None:
    good = [SPEC_BODY, f"log\n0\n{ZERO}\n", f"log\n{2**64 - 1}\n{ZERO}\next one\n"]
    answers = page.evaluate(PARSE_CHECKPOINT, good + MALFORMED_CHECKPOINTS)
    for body, answer in zip(good, answers, strict=False):
        c = Checkpoint.parse(body)
        assert answer == [c.origin, str(c.size), b64(c.root), list(c.extensions)]
    assert answers[0][:2] == ["example.com/behind-the-sofa", "20852163"]
    for body, answer in zip(MALFORMED_CHECKPOINTS, answers[len(good) :], strict=True):
        with pytest.raises(NoteError):
            Checkpoint.parse(body)
        assert isinstance(answer, str) and answer, (body, answer)


def _excess_padding(note: bytes) -> bool:
    # Python's strict base64 still takes '=' after a complete quantum ("AAAA=" is 3 bytes);
    # Go's StdEncoding, which wrote the format, refuses it, and so does the page.
    lines = note.rsplit(b"\n\n", 1)[-1].split(b"\n")
    blobs = [line.rpartition(b" ")[2] for line in lines]
    return any(re.fullmatch(rb"(?:[A-Za-z0-9+/]{4})+=+", blob) for blob in blobs)


def test_base64_is_read_as_go_reads_it(page: Page) -> None:
    # An unknown key's line, ignored either way, then Peter's: only the padding differs.
    unknown = "— Unknown AAAAAAAA\n"
    assert "opened" in _open(page, TEXT + "\n" + unknown + PETER_SIG, [PETER_VKEY])
    for padded in ("— Unknown AAAAAAAA=\n", "— Unknown AAAAAAA\n", "— Unknown AAAA AAAA\n"):
        answer = _open(page, TEXT + "\n" + padded + PETER_SIG, [PETER_VKEY])
        assert answer == {"reason": "a signature is not base64"}, padded


def test_random_damage_to_a_note_is_judged_as_the_kernel_judges_it(page: Page) -> None:
    t = TREES[21]
    raw = t.note.encode()
    rng = random.Random(9162)
    damaged: list[bytes] = [raw]
    for _ in range(400):
        at = rng.randrange(len(raw))
        match rng.randrange(4):
            case 0:
                damaged.append(flip(raw, at, rng.randrange(8)))
            case 1:
                damaged.append(raw[:at] + raw[at + 1 :])
            case 2:
                damaged.append(raw[:at] + raw[at : at + 1] + raw[at:])
            case _:
                damaged.append(raw[:at] + bytes([rng.choice(b"\n +/=A\xe2\x80\x94 ")]) + raw[at:])
    log, witness = LOG.verifier(), WITNESS.verifier()

    def kernel(note: bytes) -> list[bool]:
        if _excess_padding(note):
            return [False, False]
        judged = []
        try:
            open_checkpoint(note, log)
            judged.append(True)
        except NoteError:
            judged.append(False)
        try:
            verify_cosignature(note, witness)
            judged.append(True)
        except NoteError:
            judged.append(False)
        return judged

    answers = page.evaluate(
        """async ([notes, log, witness]) => {
          const T = OnshiTransparency;
          const pass = async (f) => { try { await f(); return true; } catch (e) {
            if (!(e instanceof T.TransparencyError)) throw e; return false; } };
          return Promise.all(notes.map(async (n) => [
            await pass(async () =>
              T.parseCheckpoint((await T.openNote(T.fromBase64(n), [log])).body)),
            await pass(() => T.verifyCosignature(T.fromBase64(n), witness)),
          ]));
        }""",
        [[b64(d) for d in damaged], log.key_string(), witness.key_string()],
    )
    expected = [kernel(d) for d in damaged]
    assert answers == expected, [
        (d, a, e) for d, a, e in zip(damaged, answers, expected, strict=True) if a != e
    ]
    assert answers[0] == [True, True]
    assert [False, True] in answers and [True, False] in answers and [False, False] in answers


def test_nothing_the_page_can_be_given_makes_it_throw(page: Page, browser: Browser) -> None:
    good = TREES[3].case(1)
    odd: list[dict[str, Any]] = [
        {},
        good | {"logKey": None},
        good | {"witnessKeys": "not a list"},
        good | {"checkpointNote": 42},
        good | {"leafBase64": None},
        good | {"proofBase64": None},
        good | {"proofBase64": [None]},
        good | {"index": None},
    ]
    answers = check(page, odd)
    assert [a["step"] for a in answers] == [
        "keys", "keys", "keys", "checkpoint", "proof", "proof", "proof", "proof",
    ]  # fmt: skip
    assert all(not a["ok"] and a["reason"] for a in answers)
    # Without a secure context there is no WebCrypto: the page is told so, not left hanging.
    context = browser.new_context()
    try:
        blank = context.new_page()
        blank.add_script_tag(path=str(SCRIPT))
        (answer,) = check(blank, [good])
        assert answer["step"] == "setup" and "secure context" in answer["reason"]
    finally:
        context.close()
