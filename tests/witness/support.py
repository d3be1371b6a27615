"""A log built in memory (its tree, its key, its signed checkpoints) and a witness process
started as an operator starts it, for the witness's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from onshi_kernel.transparency.checkpoint import Checkpoint, WitnessVerifier, sign_checkpoint
from onshi_kernel.transparency.merkle import (
    MemoryStore,
    consistency_at,
    leaf_hash,
    reader,
    root_at,
)
from onshi_kernel.transparency.note import Ed25519Signer
from tests.support.ports import free_port

ORIGIN = "onshi.test/access-log"
WITNESS_NAME = "witness.test/w1"


class Log:
    """An append-only log of numbered records, signed by `signer`; `fork` makes a log that
    shares this one's first leaves and then differs."""

    def __init__(self, signer: Ed25519Signer, origin: str = ORIGIN, tag: bytes = b"") -> None:
        self.signer = signer
        self.origin = origin
        self.tag = tag
        self.store = MemoryStore()

    @property
    def size(self) -> int:
        return self.store.size

    def grow(self, count: int) -> Log:
        start = self.size
        self.store.append(
            [leaf_hash(self.tag + f"record {i}".encode()) for i in range(start, start + count)]
        )
        return self

    def root(self, size: int | None = None) -> bytes:
        return root_at(self.size if size is None else size, reader(self.store))

    def note(self, size: int | None = None, signer: Ed25519Signer | None = None) -> str:
        size = self.size if size is None else size
        checkpoint = Checkpoint(self.origin, size, self.root(size))
        return sign_checkpoint(checkpoint, signer or self.signer)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_at(old, self.size if new is None else new, reader(self.store))

    def fork(self, shared: int, tag: bytes = b"forked ") -> Log:
        other = Log(self.signer, self.origin)
        other.grow(shared)
        other.tag = tag
        return other


def witness_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qualification_server.witness", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def init_witness(directory: Path) -> tuple[Path, WitnessVerifier]:
    key = directory / "witness.key"
    done = witness_command("init", "--key", str(key), "--name", WITNESS_NAME)
    assert done.returncode == 0, done.stderr
    return key, WitnessVerifier.from_key(done.stdout.strip())


class WitnessProcess:
    """`python -m qualification_server.witness serve …` on a free port; its standard error
    in a file (the alarms' log lines)."""

    def __init__(self, key: Path, state: Path, logs: list[str], stderr: Path) -> None:
        self.key = key
        self.state = state
        self.logs = logs
        self.stderr_path = stderr
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WitnessProcess:
        self.port = free_port()
        args = ["serve", "--key", str(self.key), "--state", str(self.state)]
        for log in self.logs:
            args += ["--log", log]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qualification_server.witness", *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "ONSHI_LOG_LEVEL": "INFO"},
            )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the witness exited: {self.stderr()}")
            try:
                httpx.get(f"{self.url}/alarms", timeout=1).raise_for_status()
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the witness did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")
