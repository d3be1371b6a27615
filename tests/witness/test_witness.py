"""The witness as a separate process (`python -m qualification_server.witness serve`), with
its own key and state file, driven over HTTP by the client the server's sealer uses: it
cosigns a log's checkpoints only when each extends the last one it cosigned, keeps that
across a restart, and refuses and reports one that rewrites history."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onshi_kernel.transparency.checkpoint import (
    WitnessSigner,
    WitnessVerifier,
    cosign,
    open_checkpoint,
    verify_cosignature,
)
from onshi_kernel.transparency.note import Ed25519Signer, NoteError
from qualification_server.witness.client import (
    WitnessClient,
    WitnessConflict,
    WitnessRefused,
    WitnessUnavailable,
    add_cosignatures,
)
from tests.witness.support import (
    ORIGIN,
    WITNESS_NAME,
    Log,
    WitnessProcess,
    init_witness,
    witness_command,
)

LOG_KEY = Ed25519Signer.generate(ORIGIN)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("witness")


@pytest.fixture(scope="module")
def witness_key(home: Path) -> tuple[Path, WitnessVerifier]:
    return init_witness(home)


@pytest.fixture
def witness(tmp_path: Path, witness_key: tuple[Path, WitnessVerifier]) -> Iterator[WitnessProcess]:
    key, _ = witness_key
    process = WitnessProcess(
        key,
        tmp_path / "state.json",
        [f"{ORIGIN}={LOG_KEY.verifier().key_string()}"],
        tmp_path / "witness.stderr",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(witness: WitnessProcess) -> Iterator[WitnessClient]:
    with WitnessClient(witness.url) as c:
        yield c


def post(witness: WitnessProcess, old: int, proof: list[bytes], note: str) -> httpx.Response:
    body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return httpx.post(f"{witness.url}/add-checkpoint", content=(body + "\n" + note).encode())


def test_init_writes_a_private_key_only_its_owner_reads_and_never_replaces_it(
    witness_key: tuple[Path, WitnessVerifier],
) -> None:
    key, verifier = witness_key
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith(f"PRIVATE+KEY+{WITNESS_NAME}+")
    assert verifier.name == WITNESS_NAME
    # the printed key is the cosignature/v1 key (type 0x04), as witnesses publish it
    assert base64.b64decode(verifier.key_string().split("+", 2)[2])[0] == 0x04

    again = witness_command("init", "--key", str(key), "--name", WITNESS_NAME)
    assert again.returncode == 1
    assert "exists" in again.stderr
    assert key.read_text().startswith(f"PRIVATE+KEY+{WITNESS_NAME}+")


def test_the_first_checkpoint_is_cosigned_and_the_cosignature_verifies(
    client: WitnessClient, witness_key: tuple[Path, WitnessVerifier]
) -> None:
    _, witness_verifier = witness_key
    log = Log(LOG_KEY).grow(7)
    note = log.note()

    lines = client.add_checkpoint(0, [], note)

    assert len(lines) == 1
    assert lines[0].startswith(f"— {WITNESS_NAME} ")
    cosigned = add_cosignatures(note, lines)
    verify_cosignature(cosigned, witness_verifier)
    assert open_checkpoint(cosigned, LOG_KEY.verifier(), ORIGIN).size == 7
    latest = client.latest(ORIGIN)
    assert latest is not None
    verify_cosignature(latest, witness_verifier)
    assert open_checkpoint(latest, LOG_KEY.verifier()).root == log.root()


def test_an_extension_is_cosigned_after_its_consistency_proof_verifies(
    client: WitnessClient, witness_key: tuple[Path, WitnessVerifier]
) -> None:
    _, witness_verifier = witness_key
    log = Log(LOG_KEY).grow(5)
    client.add_checkpoint(0, [], log.note())
    for grow in (1, 7, 64, 1):
        old = log.size
        log.grow(grow)
        lines = client.add_checkpoint(old, log.proof(old), log.note())
        verify_cosignature(add_cosignatures(log.note(), lines), witness_verifier)
    latest = client.latest(ORIGIN)
    assert latest is not None
    assert open_checkpoint(latest, LOG_KEY.verifier()).size == log.size == 78
    # the same checkpoint again (old = its size, no proof) is cosigned again, as the spec says
    assert client.add_checkpoint(log.size, [], log.note())
    assert client.alarms() == []


def test_a_client_with_the_witness_key_keeps_only_lines_that_verify(
    witness: WitnessProcess, witness_key: tuple[Path, WitnessVerifier]
) -> None:
    _, witness_verifier = witness_key
    log = Log(LOG_KEY).grow(3)
    with WitnessClient(witness.url, verifier=witness_verifier) as checked:
        lines = checked.add_checkpoint(0, [], log.note())
    assert len(lines) == 1
    stranger = WitnessVerifier.from_key(
        Ed25519Signer.generate(WITNESS_NAME).verifier().key_string()
    )
    log.grow(1)
    with (
        WitnessClient(witness.url, verifier=stranger) as wrong,
        pytest.raises(WitnessRefused, match="no cosignature"),
    ):
        wrong.add_checkpoint(3, log.proof(3), log.note())


def test_a_stale_old_size_is_a_409_with_the_witness_size(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    log = Log(LOG_KEY).grow(10)
    client.add_checkpoint(0, [], log.note())
    log.grow(5)

    response = post(witness, 0, [], log.note())
    assert response.status_code == 409
    assert response.headers["content-type"].split(";")[0] == "text/x.tlog.size"
    assert response.text == "10\n"

    with pytest.raises(WitnessConflict) as conflict:
        client.add_checkpoint(3, log.proof(3), log.note())
    assert conflict.value.size == 10
    # the sealer's recovery: again from the size the witness gave
    assert client.add_checkpoint(conflict.value.size, log.proof(10), log.note())
    assert client.alarms() == []


def test_a_restart_keeps_the_state(
    witness: WitnessProcess, witness_key: tuple[Path, WitnessVerifier]
) -> None:
    _, witness_verifier = witness_key
    log = Log(LOG_KEY).grow(12)
    with WitnessClient(witness.url) as client:
        client.add_checkpoint(0, [], log.note())
        before = client.latest(ORIGIN)

    witness.stop()
    witness.start()

    with WitnessClient(witness.url) as client:
        assert client.latest(ORIGIN) == before
        with pytest.raises(WitnessConflict) as conflict:
            client.add_checkpoint(0, [], log.note())
        assert conflict.value.size == 12
        log.grow(4)
        lines = client.add_checkpoint(12, log.proof(12), log.note())
    verify_cosignature(add_cosignatures(log.note(), lines), witness_verifier)
    status = witness_command("status", "--state", str(witness.state))
    assert status.returncode == 0, status.stderr
    assert f"{ORIGIN}: size 16" in status.stdout
    assert "alarms: 0 open" in status.stdout


def test_a_second_witness_process_on_the_same_state_is_refused(
    witness: WitnessProcess,
) -> None:
    second = witness_command(
        "serve",
        "--key",
        str(witness.key),
        "--state",
        str(witness.state),
        *("--log", witness.logs[0]),
        *("--port", "1"),
    )
    assert second.returncode == 1
    assert "another witness holds" in second.stderr


def _alarm_lines(witness: WitnessProcess) -> list[str]:
    return [line for line in witness.stderr().splitlines() if "witness alarm" in line]


def test_the_same_size_with_another_root_is_refused_and_reported(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    log = Log(LOG_KEY).grow(8)
    client.add_checkpoint(0, [], log.note())
    fork = log.fork(5).grow(3)
    assert fork.size == 8
    assert fork.root() != log.root()

    with pytest.raises(WitnessRefused) as refused:
        client.add_checkpoint(8, [], fork.note())
    assert refused.value.status == 409
    # with a stale old size too: the 409 the spec asks, and still an alarm (once)
    with pytest.raises(WitnessConflict):
        client.add_checkpoint(0, [], fork.note())

    alarms = client.alarms()
    assert [(a["kind"], a["cosigned_size"], a["new_size"]) for a in alarms] == [("fork", 8, 8)]
    assert alarms[0]["origin"] == ORIGIN
    assert alarms[0]["new_root"] == base64.b64encode(fork.root()).decode()
    assert alarms[0]["note"] == fork.note()  # the evidence: the log's own signed checkpoint
    open_checkpoint(alarms[0]["note"], LOG_KEY.verifier())
    lines = _alarm_lines(witness)
    assert lines
    assert f"origin={ORIGIN} kind=fork cosigned_size=8 old_size=8 new_size=8" in lines[0]
    latest = client.latest(ORIGIN)
    assert latest is not None
    assert open_checkpoint(latest, LOG_KEY.verifier()).root == log.root()


def test_a_smaller_tree_is_refused_and_reported(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    log = Log(LOG_KEY).grow(20)
    client.add_checkpoint(0, [], log.note())

    response = post(witness, 20, [], log.note(size=13))
    assert response.status_code == 400

    with pytest.raises(WitnessConflict) as conflict:
        client.add_checkpoint(13, [], log.note(size=13))
    assert conflict.value.size == 20

    alarms = client.alarms()
    assert [(a["kind"], a["cosigned_size"], a["new_size"]) for a in alarms] == [("smaller", 20, 13)]
    assert "kind=smaller cosigned_size=20 old_size=20 new_size=13" in _alarm_lines(witness)[0]
    log.grow(1)
    assert client.add_checkpoint(20, log.proof(20), log.note())


def test_a_fork_whose_proof_fails_is_refused_and_reported(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    log = Log(LOG_KEY).grow(9)
    client.add_checkpoint(0, [], log.note())
    fork = log.fork(6).grow(10)  # the log rewrote records 6, 7, 8 and went on

    with pytest.raises(WitnessRefused) as refused:
        client.add_checkpoint(9, fork.proof(9), fork.note())
    assert refused.value.status == 422
    # no proof at all, and a proof of another size, fail as well
    with pytest.raises(WitnessRefused, match="422"):
        client.add_checkpoint(9, [], fork.note())
    log.grow(7)
    with pytest.raises(WitnessRefused, match="422"):
        client.add_checkpoint(9, log.proof(8), log.note())

    alarms = client.alarms()
    assert [(a["kind"], a["new_size"], a["resolved_at"]) for a in alarms] == [
        ("bad-proof", 16, None),
        ("bad-proof", 16, None),
    ]
    assert {a["new_root"] for a in alarms} == {
        base64.b64encode(fork.root()).decode(),
        base64.b64encode(log.root()).decode(),
    }
    assert len(_alarm_lines(witness)) == 3  # every refusal is logged; replays alarm once
    assert "kind=bad-proof cosigned_size=9 old_size=9 new_size=16" in _alarm_lines(witness)[0]

    # the true log then proves its checkpoint: cosigned, and that suspicion resolved
    assert client.add_checkpoint(9, log.proof(9), log.note())
    resolved = {a["new_root"]: a["resolved_at"] for a in client.alarms()}
    assert resolved[base64.b64encode(log.root()).decode()] is not None
    assert resolved[base64.b64encode(fork.root()).decode()] is None
    status = witness_command("status", "--state", str(witness.state))
    assert status.returncode == 2  # an open alarm
    assert "alarms: 1 open, 1 resolved" in status.stdout


def test_a_note_signed_by_an_unknown_key_is_refused(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    impostor = Ed25519Signer.generate(ORIGIN)  # the log's name, another key
    log = Log(LOG_KEY).grow(4)
    with pytest.raises(WitnessRefused) as refused:
        client.add_checkpoint(0, [], log.note(signer=impostor))
    assert refused.value.status == 403
    other = Log(Ed25519Signer.generate("other.test/log"), origin="other.test/log").grow(4)
    with pytest.raises(WitnessRefused) as unknown_origin:
        client.add_checkpoint(0, [], other.note())
    assert unknown_origin.value.status == 404
    # a known key's signature that does not verify: a byte of the root changed
    note = log.note()
    text, _, signatures = note.partition("\n\n")
    lines = text.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(WitnessRefused) as tampered:
        client.add_checkpoint(0, [], "\n".join(lines) + "\n\n" + signatures)
    assert tampered.value.status == 403
    assert client.latest(ORIGIN) is None
    assert client.alarms() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"old 01\n\n", 400),
        (b"old 0\nnot base64!\n\n", 400),
        (b"new 0\n\n", 400),
        (b"old 0\n", 400),
        (b"\xff\xfe", 400),
    ],
)
def test_a_malformed_request_is_a_400(witness: WitnessProcess, body: bytes, status: int) -> None:
    note = Log(LOG_KEY).grow(1).note()
    response = httpx.post(f"{witness.url}/add-checkpoint", content=body + note.encode())
    assert response.status_code == status


def test_a_body_too_large_is_refused_before_it_is_read(witness: WitnessProcess) -> None:
    response = httpx.post(f"{witness.url}/add-checkpoint", content=b"old 0\n" + b"A" * 40_000)
    assert response.status_code == 413


def test_concurrent_submissions_cosign_one_and_conflict_the_others(
    witness: WitnessProcess, client: WitnessClient
) -> None:
    log = Log(LOG_KEY).grow(10)
    client.add_checkpoint(0, [], log.note())
    branches = [Log(LOG_KEY).grow(10 + n) for n in range(1, 9)]  # 8 racing extensions
    outcomes: list[object] = []
    lock = threading.Lock()

    def submit(branch: Log) -> None:
        with WitnessClient(witness.url) as c:
            try:
                result: object = c.add_checkpoint(10, branch.proof(10), branch.note())
            except (WitnessConflict, WitnessRefused) as exc:
                result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=submit, args=(b,)) for b in branches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    won = [o for o in outcomes if isinstance(o, list)]
    lost = [o for o in outcomes if isinstance(o, WitnessConflict)]
    assert len(won) == 1
    assert len(lost) == 7
    latest = client.latest(ORIGIN)
    assert latest is not None
    size = open_checkpoint(latest, LOG_KEY.verifier()).size
    assert {c.size for c in lost} == {size}
    state = json.loads(witness.state.read_text())
    assert state["logs"][ORIGIN]["size"] == size


def test_the_client_reports_an_unreachable_witness(witness: WitnessProcess) -> None:
    url = witness.url
    witness.stop()
    with WitnessClient(url, timeout=1.0) as gone:
        with pytest.raises(WitnessUnavailable):
            gone.add_checkpoint(0, [], Log(LOG_KEY).grow(1).note())
        with pytest.raises(WitnessUnavailable):
            gone.latest(ORIGIN)


def test_add_cosignatures_replaces_a_key_s_earlier_line() -> None:
    log = Log(LOG_KEY).grow(2)
    note = log.note()
    signer = WitnessSigner(WITNESS_NAME, Ed25519Signer.generate(WITNESS_NAME).private_key)
    first = cosign(note, signer, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    line = first.rstrip("\n").split("\n")[-1]
    twice = add_cosignatures(add_cosignatures(note, [line]), [line + "\n"])
    assert twice == first
    assert add_cosignatures(note, []) == note
    with pytest.raises(NoteError):
        add_cosignatures(note, ["not a signature line"])
