"""Starting and stopping a pcscd of our own, for tests and the demo (PCSC_NOTES.md).

pcscd does not start by itself on these machines. `--foreground` keeps it a child we can stop
by PID; `--auto-exit` is never passed (it quits after 60 s idle).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


class PcscdError(RuntimeError):
    """pcscd could not be started; the message says why."""


def pcscd_running(socket_path: Path = PCSCD_SOCKET) -> bool:
    """Whether a pcscd answers on its socket."""
    if not socket_path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(socket_path))
        except OSError:
            return False
    return True


def _pcscd_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "pcscd":
                    pids.append(int(entry.name))
    return pids


class Pcscd:
    """A pcscd child process. `with Pcscd():` starts one unless one is already running."""

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable or shutil.which("pcscd") or "/usr/sbin/pcscd"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        """True if this object started the pcscd that is running."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 5.0) -> None:
        """Start pcscd in the foreground unless one already answers."""
        if pcscd_running():
            return
        if not Path(self._executable).exists():
            raise PcscdError(
                f"pcscd is not installed ({self._executable}); run `make test` as root "
                "or install pcscd and vsmartcard-vpcd"
            )
        self._wait_for_old_to_exit(timeout_s)
        self._process = subprocess.Popen(
            [self._executable, "--foreground"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while not pcscd_running():
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                raise PcscdError(f"pcscd exited with {self._process.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdError(f"pcscd did not open {PCSCD_SOCKET} within {timeout_s:g} s")
            time.sleep(0.02)

    @staticmethod
    def _wait_for_old_to_exit(timeout_s: float) -> None:
        # After a kill, a new pcscd refuses to start while the old one lingers.
        deadline = time.monotonic() + timeout_s
        while _pcscd_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the pcscd this object started (a pcscd started elsewhere is left alone)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Kill -9 the pcscd this object started (fault tests)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        with contextlib.suppress(FileNotFoundError):
            if not pcscd_running():
                PCSCD_SOCKET.unlink()

    def __enter__(self) -> Pcscd:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
