"""`make demo` as a newcomer uses it: the clinic token it prints points `clinic verify` at its
server, its registered face-reader key makes face and visual checks answer, and a card's name
typed at its prompt puts that card in its reader."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from card_reader.pcscd import Pcscd
from tests.support.ports import free_port

pytestmark = pytest.mark.pcsc

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Demo:
    process: subprocess.Popen[str]
    output: list[str]
    lines: queue.Queue[str]

    def read_until(self, pattern: str, timeout_s: float = 120) -> re.Match[str]:
        """Read the demo's output until a line matches `pattern`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} in:\n{''.join(self.output)}")

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


@pytest.fixture
def demo(tmp_path: Path, pcscd: Pcscd) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONSHI_", "DATABASE_"))}
    env.update(
        ONSHI_ENV="development", DEMO_WORK=str(tmp_path / "demo"),
        DEMO_SERVER_PORT=str(free_port()), DEMO_DESK_PORT=str(free_port()),
        DEMO_READER_PORT=str(free_port()), PYTHONUNBUFFERED="1",
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.demo"], cwd=REPO, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # a thread reads: select() cannot see what a reader already buffered
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    yield Demo(process, [], lines)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def desk(exports: dict[str, str], *args: str) -> str:
    """`clinic ARGS` with the environment the demo told us to export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONSHI_")}
    env.update(exports, PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run(
        [str(BIN / "clinic"), *args], cwd=REPO, env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_demo_prints_its_token_proves_face_checks_and_swaps_its_card(demo: Demo) -> None:
    exports: dict[str, str] = {}
    for _ in range(2):  # the two `export` lines it prints, read as a shell would
        line = demo.read_until(r"^\s+export ").string
        for assignment in line.split()[1:]:
            name, _, value = assignment.partition("=")
            exports[name] = value
    assert re.fullmatch(r"1310000017\.\S+", exports["ONSHI_CLINIC_TOKEN"])
    assert exports["ONSHI_CLINIC_DEVICE_ID"] == "face-1"
    conformance = demo.read_until(r"conformance run .*--clinic-credential (\S+)")
    assert conformance.group(1) == exports["ONSHI_CLINIC_TOKEN"]
    demo.read_until(r"To put another in, type its name")

    for mode in ("face", "visual"):  # the device key it registered proves them
        answer = desk(exports, "verify", "--mode", mode)
        assert answer.startswith("QualificationValidity: 1\n") and "山田" in answer, answer

    demo.type("tanaka-ichiro")
    demo.read_until(r"tanaka-ichiro's card is in the reader")
    answer = desk(exports, "verify", "--pin", "1234")
    assert "田中" in answer and "山田" not in answer, answer
    demo.type("no-such-card")
    demo.read_until(r"no such card")
