"""The witness's state file, in process: what it stores reads back equal, a file that is not
a witness's state stops the witness rather than letting it start afresh, and the serve
command refuses a key others may read and a malformed --log."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from onshi_kernel.transparency.merkle import EMPTY_ROOT
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.witness.state import (
    EMPTY,
    MAX_ALARMS,
    Alarm,
    LogState,
    StateError,
    StateLocked,
    StateStore,
    WitnessState,
    decode_state,
    encode_state,
    load_state,
    with_alarm,
    with_cosigned,
)
from tests.witness.support import ORIGIN, init_witness, witness_command

AT = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)
ROOT = bytes(range(32))


def _alarm(kind: str = "bad-proof", size: int = 9, root: bytes = ROOT) -> Alarm:
    return Alarm(AT, ORIGIN, kind, "a reason", 5, 5, size, root, "the note\n")  # type: ignore[arg-type]


def test_a_state_reads_back_equal() -> None:
    state = WitnessState(
        {ORIGIN: LogState(ORIGIN, 7, ROOT, "a note\n\n— x y\n", AT)},
        (_alarm(), _alarm("fork", 5, EMPTY_ROOT)),
    )
    assert decode_state(encode_state(state)) == state
    assert decode_state(encode_state(EMPTY)) == EMPTY


def test_no_file_is_the_empty_state_and_a_foreign_file_is_refused(tmp_path: Path) -> None:
    assert load_state(tmp_path / "none.json") == EMPTY
    for content in (b"", b"{}", b'{"version": 2, "logs": {}, "alarms": []}', b"\xff"):
        (tmp_path / "bad.json").write_bytes(content)
        with pytest.raises(StateError):
            load_state(tmp_path / "bad.json")
    short_root = encode_state(WitnessState({ORIGIN: LogState(ORIGIN, 7, ROOT, "n\n", AT)})).replace(
        b'"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="', b'"AAEC"'
    )
    with pytest.raises(StateError):
        decode_state(short_root)


def test_the_store_writes_only_under_its_lock_and_one_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    try:
        with pytest.raises(RuntimeError):
            store.write(EMPTY)
        with store.lock:
            store.write(with_cosigned(store.state, LogState(ORIGIN, 3, ROOT, "n\n", AT)))
        assert load_state(path).logs[ORIGIN].size == 3
        with pytest.raises(StateLocked):
            StateStore(path)
    finally:
        store.close()
    StateStore(path).close()


def test_alarms_are_kept_once_resolved_by_a_cosigning_and_bounded() -> None:
    state = with_alarm(EMPTY, _alarm())
    assert state is not None
    assert with_alarm(state, _alarm()) is None  # the same request again
    other = with_alarm(state, _alarm("smaller", 4))
    assert other is not None
    resolved = with_cosigned(other, LogState(ORIGIN, 9, ROOT, "n\n", AT))
    assert [a.resolved_at for a in resolved.alarms] == [AT, None]
    many: WitnessState | None = EMPTY
    for n in range(MAX_ALARMS + 5):
        assert many is not None
        many = with_alarm(many, _alarm(size=n))
    assert many is not None
    assert len(many.alarms) == MAX_ALARMS
    assert many.alarms[0].new_size == 5


def test_serve_refuses_a_corrupt_state_a_readable_key_and_a_bad_log(tmp_path: Path) -> None:
    key, _ = init_witness(tmp_path)
    state = tmp_path / "state.json"
    state.write_text("not json")
    log = f"{ORIGIN}=" + "x+01234567+AAAA"
    done = witness_command("serve", "--key", str(key), "--state", str(state), "--log", log)
    assert done.returncode == 1
    assert "--log" in done.stderr

    good_log = f"{ORIGIN}={Ed25519Signer.generate(ORIGIN).verifier().key_string()}"
    done = witness_command("serve", "--key", str(key), "--state", str(state), "--log", good_log)
    assert done.returncode == 1
    assert "not a witness state file" in done.stderr

    os.chmod(key, 0o644)
    done = witness_command("serve", "--key", str(key), "--state", str(state), "--log", good_log)
    assert done.returncode == 1
    assert "read by others" in done.stderr
