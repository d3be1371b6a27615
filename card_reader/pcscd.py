"""Starting and stopping a pcscd of our own, for tests and the demo (PCSC_NOTES.md).

pcscd does not start by itself on these machines. `--foreground` keeps it a child we can stop
by PID; `--auto-exit` is never passed (it quits after 60 s idle). Its log goes to a file, never
to a pipe nobody reads: a full pipe would stop pcscd at its next log line.

pcscd opens its own socket a few milliseconds before its drivers listen: `start` waits for
the ports named in `listen_ports` too (vpcd's, for the emulated cards), so a card that
connects right after `start` is not refused.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

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


def listening_ports(ports: Iterable[int]) -> set[int]:
    """Which of `ports` a socket on this machine listens on (TCP, IPv4 or IPv6), read from
    /proc/net without connecting: a connection to vpcd's port would insert a card."""
    wanted, found = set(ports), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                    port = int(fields[1].rsplit(":", 1)[1], 16)
                    if port in wanted:
                        found.add(port)
    return found


def _pcscd_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "pcscd":
                    pids.append(int(entry.name))
    return pids


class Pcscd:
    """A pcscd child process. `with Pcscd():` starts one unless one is already running.

    `listen_ports` are the TCP ports its drivers must listen on before it counts as started
    (and as healthy): vpcd's slots for the emulated cards.
    """

    def __init__(self, executable: str | None = None, listen_ports: Iterable[int] = ()) -> None:
        self._executable = executable or shutil.which("pcscd") or "/usr/sbin/pcscd"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.listen_ports = tuple(listen_ports)

    @property
    def owned(self) -> bool:
        """True if this object started the pcscd that is running."""
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        """The exit status of the pcscd this object started, if it has exited by itself
        (negative: the signal that ended it, -11 for a crash); None while it runs."""
        return None if self._process is None else self._process.poll()

    def healthy(self) -> bool:
        """Whether a pcscd answers on its socket and its drivers listen on `listen_ports`."""
        return pcscd_running() and listening_ports(self.listen_ports) == set(self.listen_ports)

    def start(self, timeout_s: float = 5.0) -> None:
        """Start pcscd in the foreground unless one already answers, and wait until its
        drivers listen."""
        if pcscd_running():
            self._wait_for_ports(time.monotonic() + timeout_s)
            return
        if not Path(self._executable).exists():
            raise PcscdError(
                f"pcscd is not installed ({self._executable}); run `make test` as root "
                "or install pcscd and vsmartcard-vpcd"
            )
        self._wait_for_old_to_exit(timeout_s)
        self._close_log()
        self._log = tempfile.TemporaryFile(prefix="pcscd-")  # noqa: SIM115 (kept till stop)
        self._process = subprocess.Popen(
            [self._executable, "--foreground"], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while not pcscd_running():
            if self._process.poll() is not None:
                raise PcscdError(f"pcscd exited with {self._process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise PcscdError(
                    f"pcscd did not open {PCSCD_SOCKET} within {timeout_s:g} s: {tail}"
                )
            time.sleep(0.02)
        try:
            self._wait_for_ports(deadline)
        except PcscdError:
            self.stop()  # a pcscd without its driver would only stand in the next one's way
            raise

    def _wait_for_ports(self, deadline: float) -> None:
        while (missing := set(self.listen_ports) - listening_ports(self.listen_ports)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)
        if missing:
            ports = ", ".join(str(port) for port in sorted(missing))
            tail = self.log_tail()
            if not self.owned:
                pids = ", ".join(str(pid) for pid in _pcscd_pids())
                why = f"a pcscd not started here runs without them (pid {pids}): stop it"
            elif "Address already in use" in tail:
                why = (
                    "another socket holds the port: vpcd's ports lie in the ephemeral range, "
                    "so reserve them (as root: "
                    "sysctl -w net.ipv4.ip_local_reserved_ports=35963-35964)"
                )
            else:
                why = "is vsmartcard-vpcd installed and configured in /etc/reader.conf.d?"
            raise PcscdError(f"pcscd runs but nothing listens on TCP {ports} ({why}): {tail}")

    def log_tail(self, limit: int = 2000) -> str:
        """The end of the log of the pcscd this object started ("" if none)."""
        if self._log is None:
            return ""
        self._log.flush()
        size = self._log.seek(0, 2)
        self._log.seek(max(0, size - limit))
        return self._log.read().decode(errors="replace").strip()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

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

    def recover(self) -> bool:
        """Start pcscd again if it is gone or its drivers stopped listening (a crash, or a
        fault test that did not bring it back). Returns whether it had to."""
        if self.healthy():
            return False
        if self.owned:
            self.kill()
        self.start()
        return True

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
        self._close_log()
