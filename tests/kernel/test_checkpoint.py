"""Signed notes, checkpoints and witness cosignatures: the Go note package's published vectors,
the C2SP examples, round trips, and every kind of tampering refused."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from onshi_kernel.transparency.checkpoint import (
    Checkpoint,
    CheckpointError,
    WitnessSigner,
    WitnessVerifier,
    cosign,
    cosignature_time,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.merkle import leaf_hash, root_of
from onshi_kernel.transparency.note import (
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    NoteSignature,
    open_note,
    sign_note,
    split_note,
)

# golang.org/x/mod, sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign,
# TestOpen): the keys, the text and the signatures are Go's published ones.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
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

# transparency-dev/formats, note/note_cosigv1_test.go (TestCoSigV1NewVerifier,
# TestCosignatureTimestamp): a type 0x04 key, a type 0x01 key whose base64 has a '+', and a
# cosignature whose time is 1727964367.
WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
TIMED_COSIG = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOwor"
    "DcFiEBYJXORmnFBOBA=="
)
NOT_A_COSIG = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)

# C2SP, tlog-checkpoint.md and tlog-cosignature.md: the example checkpoint and its witness line.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_BODY + "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zh"
    "cyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJ"
    "sX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

NOW = dt.datetime(2026, 12, 2, 15, 0, 0, tzinfo=dt.UTC)
ORIGIN = "onshi.example/access-log"


def _line(blob: str) -> NoteSignature:
    raw = base64.b64decode(blob)
    return NoteSignature("w", raw[:4], raw[4:])


# --- The Go note package's vectors ---


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    signer = Ed25519Signer.from_key(PETER_SKEY)
    assert sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG
    assert signer.verifier().key_string() == PETER_VKEY
    assert signer.key_string() == PETER_SKEY


def test_signing_replaces_a_key_s_earlier_signature() -> None:
    signer = Ed25519Signer.from_key(PETER_SKEY)
    stale = NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), b"BAD")
    assert sign_note(TEXT, [signer], existing=[stale]) == TEXT + "\n" + PETER_SIG


def _manglings(key: str) -> list[str]:
    b = key.encode()
    cut = [b[i:j].decode() for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)]
    bumped = [(b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode() for i in range(len(b))]
    return [k for k in cut + bumped if k != key]


def test_every_mangled_verifier_key_is_refused() -> None:
    Ed25519Verifier.from_key(PETER_VKEY)
    for mangled in _manglings(PETER_VKEY):
        with pytest.raises(NoteError):
            Ed25519Verifier.from_key(mangled)
    with pytest.raises(NoteError):  # wrong length key, with adjusted key hash
        Ed25519Verifier.from_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError):  # unknown algorithm, with adjusted key hash
        Ed25519Verifier.from_key(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )


def test_every_mangled_signer_key_is_refused() -> None:
    for mangled in _manglings(PETER_SKEY):
        with pytest.raises(NoteError):
            Ed25519Signer.from_key(mangled)


def test_a_note_opens_with_the_keys_that_are_known() -> None:
    peter, enoch = Ed25519Verifier.from_key(PETER_VKEY), Ed25519Verifier.from_key(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == (TEXT, ("PeterNeumann",))  # Enoch's is ignored
    assert open_note(note, [peter, enoch]).signers == ("PeterNeumann", "EnochRoot")
    assert open_note(note.encode(), [enoch]).body == TEXT


def test_a_note_with_no_known_signature_is_refused() -> None:
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_a_known_key_with_a_bad_signature_refuses_the_note() -> None:
    peter = Ed25519Verifier.from_key(PETER_VKEY)
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + bad, [peter])
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, [peter])


def test_duplicate_and_unknown_signatures() -> None:
    peter = Ed25519Verifier.from_key(PETER_VKEY)
    enoch_bad = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_bad
    assert open_note(note, [peter]).signers == ("PeterNeumann",)


def test_an_ambiguous_key_is_refused_when_used() -> None:
    peter, enoch = Ed25519Verifier.from_key(PETER_VKEY), Ed25519Verifier.from_key(ENOCH_VKEY)
    with pytest.raises(NoteError, match="ambiguous key EnochRoot"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    assert open_note(TEXT + "\n" + PETER_SIG, [enoch, peter, enoch]).signers == ("PeterNeumann",)


@pytest.mark.parametrize(
    "note",
    [
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
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-character",
        "not-utf8",
        "name-with-space",
        "trailing-line",
        "too-many-signatures",
        "short-signature",
        "bad-base64",
    ],
)
def test_a_malformed_note_is_refused(note: str | bytes) -> None:
    with pytest.raises(NoteError) as refused:
        open_note(note, [Ed25519Verifier.from_key(PETER_VKEY)])
    assert refused.value.reason


def test_sign_refuses_a_text_that_cannot_be_a_note() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    with pytest.raises(NoteError):
        sign_note("abc", [signer])
    with pytest.raises(NoteError):
        sign_note("a\tb\n", [signer])
    with pytest.raises(NoteError):
        Ed25519Signer.generate("a+b")
    with pytest.raises(NoteError):
        Ed25519Signer.generate("a b")


# --- Checkpoints ---


def test_the_spec_example_checkpoint_parses_and_writes_back() -> None:
    text, signatures = split_note(SPEC_NOTE)
    checkpoint = Checkpoint.parse(text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.body() == SPEC_BODY
    # The witness line's time is the one the cosignature spec's example message shows.
    assert cosignature_time(signatures[1]) == 1679315147


def test_a_checkpoint_round_trips_with_extension_lines() -> None:
    checkpoint = Checkpoint(ORIGIN, 5, root_of([leaf_hash(b"x")] * 5), ("ext one",))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    assert Checkpoint.parse(Checkpoint(ORIGIN, 0, bytes(32)).body()).size == 0


@pytest.mark.parametrize(
    "body",
    [
        "log\n5\n",
        "log\n5\nAAAA",
        "\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "log\n05\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "log\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "log\n+5\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "log\n５\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "log\n5\nnot base64!\n",
        "log\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
        f"log\n{2**64}\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
    ids=[
        "two-lines",
        "no-final-newline",
        "empty-origin",
        "leading-zero",
        "negative",
        "plus-sign",
        "full-width-digit",
        "short-root",
        "bad-base64",
        "empty-extension",
        "over-64-bits",
    ],
)
def test_a_malformed_checkpoint_is_refused(body: str) -> None:
    with pytest.raises(CheckpointError) as refused:
        Checkpoint.parse(body)
    assert refused.value.reason


def test_a_signed_checkpoint_opens_with_the_log_key_only() -> None:
    log = Ed25519Signer.generate(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 3, root_of([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]))
    note = sign_checkpoint(checkpoint, log)
    assert open_checkpoint(note, log.verifier(), origin=ORIGIN) == checkpoint
    with pytest.raises(NoteError):
        open_checkpoint(note, Ed25519Signer.generate(ORIGIN).verifier())
    with pytest.raises(CheckpointError, match="another log"):
        open_checkpoint(note, log.verifier(), origin="other.example/log")
    forged = note.replace("\n3\n", "\n4\n")
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(forged, log.verifier())


# --- Cosignatures ---


def test_the_published_cosignature_keys_are_read() -> None:
    assert WitnessVerifier.from_key(WITNESS_VKEY).key_string() == WITNESS_VKEY
    # A type 0x01 key is the same Ed25519 key; its cosignature id is computed with 0x04.
    plus = WitnessVerifier.from_key(PLUS_VKEY)
    assert plus.name == "TEST" and plus.key_id != bytes.fromhex("7997405c")
    with pytest.raises(NoteError):
        WitnessVerifier.from_key(WITNESS_VKEY.replace("da77ade7", "da77ade8"))
    with pytest.raises(NoteError):
        WitnessVerifier.from_key("rekor.sigstore.dev+12345678+AwEB")


def test_the_published_cosignature_time_is_read() -> None:
    assert cosignature_time(_line(TIMED_COSIG)) == 1727964367
    with pytest.raises(NoteError):
        cosignature_time(_line(NOT_A_COSIG))


def _logged() -> tuple[Ed25519Signer, str]:
    log = Ed25519Signer.generate(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 2, root_of([leaf_hash(b"a"), leaf_hash(b"b")]))
    return log, sign_checkpoint(checkpoint, log)


def test_a_witness_cosigns_and_its_time_is_verified() -> None:
    log, note = _logged()
    witness = WitnessSigner.generate("witness.example/w1")
    cosigned = cosign(note, witness, NOW)
    assert verify_cosignature(cosigned, witness.verifier()) == NOW
    # The log's signature is kept, and a note reader sees both keys.
    opened = open_note(cosigned, [log.verifier(), witness.verifier()])
    assert opened.signers == (ORIGIN, "witness.example/w1")
    # A later cosignature replaces the witness's earlier one.
    later = cosign(cosigned, witness, NOW + dt.timedelta(minutes=1))
    assert later.count("witness.example/w1") == 1
    assert verify_cosignature(later, witness.verifier()) == NOW + dt.timedelta(minutes=1)


def test_a_cosignature_commits_to_the_checkpoint_the_time_and_the_key() -> None:
    _, note = _logged()
    witness = WitnessSigner.generate("witness.example/w1")
    cosigned = cosign(note, witness, NOW)
    text, signatures = split_note(cosigned)
    mine = signatures[1]
    # Another time in the line: the signature no longer covers it.
    shifted = NoteSignature(mine.name, mine.key_id, (1).to_bytes(8, "big") + mine.signature[8:])
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(text + "\n" + signatures[0].line() + shifted.line(), witness.verifier())
    # Another checkpoint under the same line.
    moved = cosigned.replace("\n2\n", "\n3\n", 1)
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(moved, witness.verifier())
    # Another witness with the same name: its id differs, so it finds no line of its own.
    with pytest.raises(NoteError, match="no cosignature"):
        verify_cosignature(cosigned, WitnessSigner.generate("witness.example/w1").verifier())
    # A log key is not a cosigning key: the same Ed25519 key has another id under 0x04.
    note_key = Ed25519Signer.generate("witness.example/w1")
    as_witness = WitnessSigner(note_key.name, note_key.private_key)
    assert as_witness.key_id != note_key.key_id
    with pytest.raises(NoteError):
        open_note(cosign(note, as_witness, NOW), [note_key.verifier()])


def test_a_witness_signer_key_string_is_a_note_signer_key() -> None:
    witness = WitnessSigner.from_key(PETER_SKEY)
    assert witness.name == "PeterNeumann"
    assert WitnessVerifier.from_key(PETER_VKEY).key_id == witness.key_id


def test_cosign_refuses_what_is_not_a_checkpoint() -> None:
    witness = WitnessSigner.generate("witness.example/w1")
    with pytest.raises(CheckpointError):
        cosign(TEXT + "\n" + PETER_SIG, witness, NOW)
    with pytest.raises(ValueError, match="timezone"):
        cosign(_logged()[1], witness, dt.datetime(2026, 12, 2, 15, 0))


def test_the_example_in_the_docs_verifies() -> None:
    # docs/access-log.md, "The checkpoint": the example note and its two keys.
    doc = (Path(__file__).parents[2] / "docs" / "access-log.md").read_text(encoding="utf-8")
    note = doc.split("```\n", 2)[1].split("```")[0]
    log = Ed25519Verifier.from_key(
        "onshi.example/access-log+6ac2a4e3+AfiY2ciqTpLdh9Rf6cpLv131tp2dOEOHHYPGa+qoA53Y"
    )
    witness = WitnessVerifier.from_key(
        "witness.example/onshi+95e0f924+BPUYx6pQzMmuPB6SnZQCW83XhF74osrwgtsWikR+JrYY"
    )
    assert log.key_string() in doc and witness.key_string() in doc
    checkpoint = open_checkpoint(note, log, origin="onshi.example/access-log")
    assert checkpoint.size == 7
    assert checkpoint.root == root_of([leaf_hash(bytes([i])) for i in range(7)])
    assert verify_cosignature(note, witness) == dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


def test_keys_and_signatures_are_read_in_canonical_base64_only() -> None:
    """'=' after a full group, or stray bits in the padding, is refused (as Go's decoder and
    the page's checker refuse it), in keys and in signature lines alike."""
    from onshi_kernel.transparency.checkpoint import WitnessSigner, WitnessVerifier
    from onshi_kernel.transparency.note import (
        Ed25519Signer,
        Ed25519Verifier,
        NoteError,
        sign_note,
        split_note,
    )

    signer = Ed25519Signer.generate("onshi.test/log")
    witness_key = WitnessSigner.generate("witness.test/w").verifier().key_string()
    for parse, key in ((Ed25519Verifier.from_key, signer.verifier().key_string()),
                       (WitnessVerifier.from_key, witness_key)):  # fmt: skip
        assert parse(key).key_string() == key
        with pytest.raises(NoteError, match="base64"):
            parse(key + "=")  # 33 bytes are 44 characters: a full group, then '='
    note = sign_note("onshi.test/log\n1\n" + "A" * 43 + "=\n", [signer])
    line = note.rsplit("\n", 2)[-2]  # 68 bytes: the last group carries 2 padding bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stray = alphabet[alphabet.index(line[-2]) ^ 1]
    with pytest.raises(NoteError, match="canonical base64"):
        split_note(note.replace(line, line[:-2] + stray + "="))
