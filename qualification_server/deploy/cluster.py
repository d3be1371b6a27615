"""A deployment on one machine that stands for many: HAProxy in front of several
qualification-server instances, a PostgreSQL primary and its streaming hot standby.

    with Cluster(Path("/tmp/onshi-cluster"), instances=2) as cluster:
        httpx.get(cluster.url + "/readyz")          # through the balancer
        httpx.get(cluster.instance_urls[1] + "/readyz")  # one instance, directly
        cluster.kill_instance(1)                    # SIGKILL; start_instance(1) brings it back
        cluster.stop_standby()                      # registry reads go to the primary
        cluster.start_standby()

What runs where (docs/deployment.md): the server's database (`qualification`) on the primary,
for every instance; the registry's database (`registry`) written on the primary and read on
the standby, falling back to the primary when the standby does not answer (a libpq URL of
both hosts with `target_session_attrs=prefer-standby`); the balancer sends a request to an
instance whose `/readyz` answers.

Everything lives under one folder (`root`): the databases' data folders and logs, the
instances' and the balancer's logs, HAProxy's configuration and runtime socket, and
`cluster.json` with the ports and process ids, so that another process (`python -m
qualification_server.deploy down`) can stop what one started. The instances are the real
`qualification-server serve`, each in its own process, given the caller's environment (its
`ONSHI_…` settings) with the two database URLs set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from qualification_server.deploy import haproxy
from qualification_server.deploy.postgres import (
    USER,
    Node,
    init_primary,
    init_standby,
    postgres_bin,
    wait_streaming,
)

SERVER_DATABASE = "qualification"
REGISTRY_DATABASE = "registry"
STATE_FILE = "cluster.json"
READY_TIMEOUT_S = 90.0  # an instance's start on a busy two-core machine
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Ports:
    """The balancer's port, each instance's, the primary's and the standby's."""

    balancer: int
    instances: tuple[int, ...]
    primary: int
    standby: int

    @classmethod
    def from_base(cls, base: int, instances: int) -> Ports:
        """`base` the balancer, `base+1…` the instances, `base+10` and `base+11` the
        primary and the standby."""
        if not 1 <= instances <= 9:
            raise ValueError("from 1 to 9 instances")
        return cls(base, tuple(base + 1 + n for n in range(instances)), base + 10, base + 11)

    @classmethod
    def free(cls, instances: int) -> Ports:
        """Ports nobody listens on now (the kernel's choice)."""
        sockets = [socket.socket() for _ in range(instances + 3)]
        try:
            for s in sockets:
                s.bind(("127.0.0.1", 0))
            found = [int(s.getsockname()[1]) for s in sockets]
        finally:
            for s in sockets:
                s.close()
        return cls(found[0], tuple(found[1 : 1 + instances]), found[-2], found[-1])


class Cluster:
    """HAProxy, `instances` qualification-server instances, a PostgreSQL primary and a hot
    standby, under `root`.

    The API (for tests and benchmarks): `start()` and `stop()` (or `with`); `url` is the
    balancer's base URL and `instance_urls[i]` instance i's (0-based); `kill_instance(i)`
    (SIGKILL), `stop_instance(i)` (SIGTERM) and `start_instance(i)`; `stop_standby()` and
    `start_standby()`; `server_database_url` (on the primary), `registry_database_url` (what
    the instances read the registry with: the standby, else the primary) and
    `registry_primary_url` (where an insurer writes). `Cluster.open(root)` is a cluster
    another process started, to `stop()` it or read its `status()`.

    `ports` default to free ones; `workers` is each instance's uvicorn workers; `env` is
    added to the caller's environment for the instances (settings such as the trust files).
    """

    def __init__(
        self,
        root: Path,
        *,
        instances: int = 2,
        ports: Ports | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.ports = ports or Ports.free(instances)
        if len(self.ports.instances) != instances:
            raise ValueError(f"{instances} instances but {len(self.ports.instances)} ports")
        self.workers = workers
        self.env = dict(env or {})
        self._haproxy = haproxy.haproxy_binary()  # a missing part fails before anything starts
        bin_dir = postgres_bin()
        self.primary = Node(bin_dir, self.root / "primary", self.ports.primary)
        self.standby = Node(bin_dir, self.root / "standby", self.ports.standby)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[str, int] = {}

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The balancer's base URL: what the front desks are given."""
        return f"http://127.0.0.1:{self.ports.balancer}"

    @property
    def instance_urls(self) -> list[str]:
        """Each instance's own base URL, in order (instance i is HAProxy's server s{i+1})."""
        return [f"http://127.0.0.1:{port}" for port in self.ports.instances]

    @property
    def server_database_url(self) -> str:
        """The server's database, on the primary: every instance reads and writes it there."""
        return self.primary.url(SERVER_DATABASE)

    @property
    def registry_database_url(self) -> str:
        """The registry as the instances read it: the standby first, the primary when the
        standby does not answer (libpq tries the hosts in order; `prefer-standby` takes the
        first that is in recovery, else any)."""
        return (
            f"postgresql+psycopg://{USER}@/{REGISTRY_DATABASE}"
            f"?host=127.0.0.1,127.0.0.1&port={self.ports.standby},{self.ports.primary}"
            "&target_session_attrs=prefer-standby&connect_timeout=2"
        )

    @property
    def registry_primary_url(self) -> str:
        """The registry's database on the primary: where insurers' writes go."""
        return self.primary.url(REGISTRY_DATABASE)

    @property
    def stats_socket(self) -> Path:
        return self.root / "haproxy.sock"

    # --- the whole -------------------------------------------------------------------------

    def start(self) -> Cluster:
        """Start everything (made first if `root` holds none of it yet); returns once the
        balancer sees every instance ready. What started is stopped again if a part fails."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            self.root.chmod(0o755)  # PostgreSQL runs as postgres and needs to pass through
        self._save()
        try:
            self._start_databases()
            self._migrate()
            for index in range(len(self.ports.instances)):
                self._spawn_instance(index)
            for index in range(len(self.ports.instances)):
                self._wait_ready(index)
            self._start_balancer()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, remove: bool = False) -> None:
        """Stop everything this cluster runs, the balancer first and the databases last
        (each part even if another fails to stop); with `remove`, delete `root` too."""
        errors: list[BaseException] = []
        for name in ["haproxy", *(f"instance-{n}" for n in range(len(self.ports.instances)))]:
            try:
                self._terminate(name)
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(exc)
        for node in (self.standby, self.primary):
            try:
                node.stop("fast")
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                errors.append(exc)
        if self.root.exists():
            self._save()
        if errors:
            raise errors[0]
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @classmethod
    def open(cls, root: Path) -> Cluster:
        """The cluster another process started under `root` (from its `cluster.json`)."""
        state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
        ports = Ports(
            state["ports"]["balancer"],
            tuple(state["ports"]["instances"]),
            state["ports"]["primary"],
            state["ports"]["standby"],
        )
        cluster = cls(root, instances=len(ports.instances), ports=ports, workers=state["workers"])
        cluster._pids = {name: int(pid) for name, pid in state["pids"].items()}
        return cluster

    def status(self) -> dict[str, str]:
        """What runs: each part's state, the balancer's view of each instance and the
        standby's replication (its state and how far its replay lags)."""
        found: dict[str, str] = {}
        for name in ("primary", "standby"):
            node: Node = getattr(self, name)
            found[name] = f"port {node.port}: " + ("running" if node.running() else "stopped")
        for n, port in enumerate(self.ports.instances):
            alive = self._alive(f"instance-{n}")
            found[f"instance-{n}"] = f"port {port}: " + ("running" if alive else "stopped")
        found["haproxy"] = f"port {self.ports.balancer}: " + (
            "running" if self._alive("haproxy") else "stopped"
        )
        if self._alive("haproxy"):
            for server, state in haproxy.server_states(self.stats_socket).items():
                found[f"haproxy {server}"] = state
        if self.primary.running():
            rows = self.primary.execute(
                "SELECT state, sync_state, coalesce(replay_lag::text, '0') FROM pg_stat_replication"
            )
            found["replication"] = (
                ", ".join(f"{s} ({sync}), replay lag {lag}" for s, sync, lag in rows)
                or "no standby streaming"
            )
        return found

    # --- instances -------------------------------------------------------------------------

    def kill_instance(self, index: int) -> None:
        """SIGKILL instance `index`: what a crash does (no shutdown, requests cut off)."""
        name = f"instance-{index}"
        pid = self._pids.get(name)
        if pid is None or not self._alive(name):
            raise RuntimeError(f"{name} is not running")
        os.kill(pid, signal.SIGKILL)
        self._reap(name, STOP_TIMEOUT_S)

    def stop_instance(self, index: int) -> None:
        """SIGTERM instance `index`: uvicorn's graceful shutdown."""
        self._terminate(f"instance-{index}")
        self._save()

    def start_instance(self, index: int) -> None:
        """Start instance `index` again and wait until it is ready."""
        self._spawn_instance(index)
        self._wait_ready(index)

    def instance_pid(self, index: int) -> int | None:
        return self._pids.get(f"instance-{index}")

    def pids(self) -> dict[str, int]:
        """The process id of each part that runs ("haproxy", "instance-0", …, and the
        "primary"'s and the "standby"'s postmaster)."""
        found = {name: pid for name, pid in self._pids.items() if self._alive(name)}
        for name in ("primary", "standby"):
            node: Node = getattr(self, name)
            pid = node.pid()
            if pid is not None:
                found[name] = pid
        return found

    def balancer_states(self) -> dict[str, str]:
        """HAProxy's view of the instances ("s1" → "UP", …; instance i is s{i+1})."""
        return haproxy.server_states(self.stats_socket)

    # --- the standby -----------------------------------------------------------------------

    def stop_standby(self, mode: str = "fast") -> None:
        """Stop the standby (`fast`, or `immediate` as a crash): registry reads go to the
        primary; insurers' writes wait for its return (docs/deployment.md)."""
        self.standby.stop(mode)

    def start_standby(self) -> None:
        """Start the standby again; returns once it streams (it has caught up on the WAL
        its replication slot kept)."""
        self.standby.start()
        wait_streaming(self.primary)

    # --- the parts -------------------------------------------------------------------------

    def _start_databases(self) -> None:
        if not self.primary.exists:
            init_primary(self.primary, (SERVER_DATABASE, REGISTRY_DATABASE))
        elif not self.primary.running():
            self.primary.start()
        if not self.standby.exists:
            init_standby(self.standby, self.primary)
        elif not self.standby.running():
            self.standby.start()
        wait_streaming(self.primary)
        # An insurer's commit returns once the standby has applied it, so a check that
        # follows at once reads it there (read-your-writes across the replication).
        self.primary.execute(
            f'ALTER DATABASE "{REGISTRY_DATABASE}" SET synchronous_commit = remote_apply'
        )

    def _script(self, name: str) -> str:
        beside = Path(sys.executable).parent / name
        found = str(beside) if beside.exists() else shutil.which(name)
        if found is None:
            raise FileNotFoundError(f"{name} is not installed (make install)")
        return found

    def _environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _migrate(self) -> None:
        """Both schemas brought up to date on the primary, the two commands side by side."""
        jobs = {
            "qualification-server": self.server_database_url,
            "insurer-registry": self.registry_primary_url,
        }
        with ExitStack() as stack:
            running = []
            for script, url in jobs.items():
                log = stack.enter_context((self.root / "logs" / f"migrate-{script}.log").open("wb"))
                running.append((script, subprocess.Popen(
                    [self._script(script), "migrate"],
                    env={**self._environment(), "DATABASE_URL": url},
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )))  # fmt: skip
            for script, process in running:
                if process.wait(timeout=180) != 0:
                    log_file = self.root / "logs" / f"migrate-{script}.log"
                    tail = log_file.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{script} migrate failed: {tail}")

    def _spawn_instance(self, index: int) -> None:
        name = f"instance-{index}"
        if self._alive(name):
            raise RuntimeError(f"{name} is running already")
        port = self.ports.instances[index]
        env = {
            **self._environment(),
            "DATABASE_URL": self.server_database_url,
            "ONSHI_REGISTRY_DATABASE_URL": self.registry_database_url,
        }
        command = [
            self._script("qualification-server"), "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(self.workers), "--no-migrate",
        ]  # fmt: skip
        self._spawn(name, command, env)

    def _wait_ready(self, index: int) -> None:
        name, url = f"instance-{index}", self.instance_urls[index]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._alive(name):
                tail = (self.root / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited while starting: {tail}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready within {READY_TIMEOUT_S} s")

    def _start_balancer(self) -> None:
        binary = self._haproxy
        config = self.root / "haproxy.cfg"
        config.write_text(
            haproxy.configuration(
                port=self.ports.balancer,
                instances=list(self.ports.instances),
                stats_socket=self.stats_socket,
            ),
            encoding="utf-8",
        )
        checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True)
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy refuses {config}: {checked.stderr.decode()}")
        self._spawn("haproxy", [binary, "-db", "-f", str(config)], self._environment())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self._alive("haproxy"):
                raise RuntimeError(
                    "haproxy exited: " + (self.root / "logs" / "haproxy.log").read_text()[-2000:]
                )
            try:
                states = haproxy.server_states(self.stats_socket)
            except OSError:
                states = {}
            if len(states) == len(self.ports.instances) and set(states.values()) == {"UP"}:
                return
            time.sleep(0.1)
        raise TimeoutError(f"haproxy does not see every instance up: {states}")

    # --- processes -------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.root / "logs" / f"{name}.log").open("ab") as log:
            # A session of its own: it outlives the command that started it (`deploy up`)
            # and a Ctrl-C meant for that command does not reach it.
            process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        self._children[name] = process
        self._pids[name] = process.pid
        self._save()

    def _alive(self, name: str) -> bool:
        """Whether `name`'s process runs: its pid alive and still the command we started
        (a pid reused by another program after a reboot is not ours to stop)."""
        pid = self._pids.get(name)
        if pid is None:
            return False
        child = self._children.get(name)
        if child is not None:
            return child.poll() is None
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        if name == "haproxy":
            return str(self.root / "haproxy.cfg").encode() in command
        index = int(name.rsplit("-", 1)[1])
        return str(self.ports.instances[index]).encode() in command and b"serve" in command

    def _terminate(self, name: str) -> None:
        if self._alive(name):
            os.kill(self._pids[name], signal.SIGTERM)
            if not self._reap(name, STOP_TIMEOUT_S):
                os.kill(self._pids[name], signal.SIGKILL)
                self._reap(name, STOP_TIMEOUT_S)
        self._pids.pop(name, None)
        self._children.pop(name, None)

    def _reap(self, name: str, timeout_s: float) -> bool:
        """Wait until `name` has exited (True), or `timeout_s` passed (False)."""
        child = self._children.get(name)
        if child is not None:
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while self._alive(name):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _save(self) -> None:
        state: dict[str, Any] = {
            "ports": {
                "balancer": self.ports.balancer,
                "instances": list(self.ports.instances),
                "primary": self.ports.primary,
                "standby": self.ports.standby,
            },
            "workers": self.workers,
            "pids": {name: pid for name, pid in self._pids.items() if self._alive(name)},
        }
        (self.root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
