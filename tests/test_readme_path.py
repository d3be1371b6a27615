"""The README's manual path, run as a newcomer runs it: its shell blocks, read from README.md
itself (the first ```sh block of each section in `SECTIONS`), executed in order with real
processes in a fresh working directory, each step's output checked, ending on an answer with
QualificationValidity 1 for the emulated card in pcscd's virtual reader.

Only what a reader would change is changed: the ports the README names become free ones,
`/tmp/card.json` a file of this test, and `1310000017.…` the credential `clinic add` printed.
A command that keeps running (`serve`, `emulate`) is started in the background and waited
for, as the README's "keeps running" says. A step the README drops or adds without this test
knowing it fails the test: README and test cannot drift apart silently."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from card_reader.pcscd import Pcscd
from tests.support.ports import free_port

pytestmark = pytest.mark.pcsc

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECTIONS = ("## The insurer registry", "## The qualification server", "## The front desk")
README_PORTS = ("8000", "8300", "8400")
CARD = "/tmp/card.json"
TOKEN_PLACEHOLDER = "1310000017.…"
LONG_RUNNING = {
    ("insurer-registry", "serve"),
    ("qualification-server", "serve"),
    ("clinic", "serve"),
    ("card-reader", "emulate"),
}


def manual_path(readme: str) -> list[list[str]]:
    """The command lines of the first ```sh block under each of SECTIONS, in order (comments
    dropped, as the shell drops them)."""
    commands: list[list[str]] = []
    for heading in SECTIONS:
        start = next(
            (i for i, line in enumerate(readme.splitlines()) if line.startswith(heading)), None
        )
        assert start is not None, f"README has no section {heading!r}"
        rest = "\n".join(readme.splitlines()[start + 1 :])
        block = re.search(r"^```sh\n(.*?)^```", rest, re.S | re.M)
        assert block is not None, f"{heading}: no ```sh block"
        for line in block.group(1).splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


@dataclass
class Newcomer:
    """A shell of someone following the README: their working directory and environment,
    what they left running, and what they saw."""

    cwd: Path
    env: dict[str, str]
    ports: dict[str, str]
    card: Path
    token: str | None = None
    running: list[subprocess.Popen[str]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def substitute(self, argv: list[str]) -> list[str]:
        out = []
        for i, arg in enumerate(argv):
            if i > 0 and argv[i - 1] == "--port":
                arg = self.ports[arg]
            for readme_port, port in self.ports.items():
                arg = arg.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
            arg = arg.replace(CARD, str(self.card))
            if TOKEN_PLACEHOLDER in arg:
                assert self.token, "the README uses the clinic's credential before printing it"
                arg = arg.replace(TOKEN_PLACEHOLDER, self.token)
            out.append(arg)
        return out

    def run(self, readme_argv: list[str]) -> None:
        argv = self.substitute(readme_argv)
        if argv[0] == "export":
            for assignment in argv[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            self.seen.append(f"export {argv[1].partition('=')[0]}")
            return
        key = " ".join(readme_argv[:2])
        if (argv[0], argv[1]) in LONG_RUNNING:
            self.start(argv)
        else:
            done = subprocess.run(
                argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, check=False,
                timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, f"{shlex.join(readme_argv)}:\n{done.stdout}{done.stderr}"
            check_output(self, readme_argv, done.stdout, done.stderr)
        self.seen.append(key)

    def start(self, argv: list[str]) -> None:
        log = (self.cwd / f"{argv[0]}-{argv[1]}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=self.cwd, env=self.env, text=True, stderr=log,
            stdout=subprocess.PIPE if argv[1] == "emulate" else log,
        )  # fmt: skip
        self.running.append(process)
        deadline = time.monotonic() + 60
        if argv[1] == "emulate":  # it says when the card is in the reader
            assert process.stdout is not None
            while time.monotonic() < deadline and process.poll() is None:
                ready, _, _ = select.select([process.stdout], [], [], 1)
                if ready and "inserted into" in process.stdout.readline():
                    return
            raise AssertionError(f"{shlex.join(argv)} inserted no card")
        port = argv[argv.index("--port") + 1]
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                return
            except httpx.TransportError:
                assert process.poll() is None, f"{shlex.join(argv)} stopped: see {log.name}"
                time.sleep(0.2)
        raise AssertionError(f"{shlex.join(argv)} does not answer on port {port}")

    def stop(self) -> None:
        for process in reversed(self.running):
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def check_output(newcomer: Newcomer, argv: list[str], out: str, err: str) -> None:
    """What each step of the README must print."""
    command = tuple(argv[:3])
    if command == ("insurer-registry", "insurer", "add"):
        assert re.fullmatch(r"ins_\S+", out.strip()), out  # the insurer's credential
    elif command[:2] == ("insurer-registry", "import"):
        assert "imported: 6 rows" in err and ", 0 rejected" in err, err
    elif command == ("qualification-server", "clinic", "add"):
        assert re.fullmatch(r"1310000017\.\S+", out.strip()), out
        newcomer.token = out.strip()
    elif command == ("qualification-server", "clinic", "device-key"):
        key = newcomer.cwd / argv[argv.index("--out") + 1]
        assert out.startswith("device face-1 registered") and key.stat().st_mode & 0o077 == 0
    elif command[:2] == ("clinic", "register"):
        assert out.startswith("registered"), out
    elif command[:2] == ("clinic", "verify"):
        assert out.startswith("QualificationValidity: 1\n"), out
        assert "山田　太郎" in out, out
    elif command[:2] == ("clinic", "lookup"):
        answer = json.loads(out)
        assert answer["MessageBody"]["QualificationValidity"] == "1", out


@pytest.fixture
def newcomer(tmp_path: Path, pcscd: Pcscd) -> Iterator[Newcomer]:
    """A fresh working directory with what a clone holds that the path reads (fixtures/),
    the environment the README's introduction asks for, and nothing else of ONSHI_'s."""
    cwd = tmp_path / "clone"
    cwd.mkdir()
    shutil.copytree(REPO / "fixtures", cwd / "fixtures")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONSHI_")}
    env.pop("DATABASE_URL", None)
    env.update(ONSHI_ENV="development", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    ports = {port: str(free_port()) for port in README_PORTS}
    person = Newcomer(cwd, env, ports, card=tmp_path / "card.json")
    yield person
    person.stop()


def test_the_readme_manual_path_ends_on_an_answer(newcomer: Newcomer) -> None:
    for argv in manual_path((REPO / "README.md").read_text(encoding="utf-8")):
        newcomer.run(argv)
    assert newcomer.seen == [
        "insurer-registry insurer", "insurer-registry insurer", "insurer-registry insurer",
        "insurer-registry import", "insurer-registry serve",
        "qualification-server clinic", "qualification-server clinic", "qualification-server serve",
        "export ONSHI_CLINIC_SERVER_URL", "export ONSHI_CLINIC_TOKEN",
        "clinic serve", "cp fixtures/issuer/cards/yamada-taro.json", "card-reader emulate",
        "clinic register", "clinic verify", "export ONSHI_CLINIC_DEVICE_KEY_FILE",
        "clinic verify", "clinic lookup",
    ]  # fmt: skip


def test_the_manual_path_is_read_from_the_readme_sections() -> None:
    """The parser finds the blocks of the named sections, so a renamed section fails loudly."""
    readme = "## The insurer registry\n```sh\na b  # c\n```\n## The qualification server\n"
    readme += "text\n```sh\nd 'e f'\n```\n```sh\nnot this\n```\n## The front desk\n```sh\ng\n```\n"
    assert manual_path(readme) == [["a", "b"], ["d", "e f"], ["g"]]
    with pytest.raises(AssertionError, match="no section"):
        manual_path("## The insurer registry\n```sh\na\n```\n")
