"""A private PostgreSQL cluster (initdb into a folder, its own port) and its streaming hot
standby (pg_basebackup with a replication slot), run through PostgreSQL's own tools."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

USER = "onshi"  # the clusters' superuser (trust authentication on 127.0.0.1 only)
STANDBY_NAME = "standby"  # its application_name on the primary, and its replication slot


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed."""


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's server binaries (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresMissing(
            "PostgreSQL's server binaries (initdb, pg_ctl) are missing: install postgresql"
        )
    return Path(found[-1]).parent


@dataclass(frozen=True)
class Node:
    """One PostgreSQL server: its data folder, log and port. Run as the `postgres` user
    when we are root (PostgreSQL refuses to run as root)."""

    bin: Path
    root: Path  # holds data/ and log
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "log"

    def run(self, *args: str, timeout_s: float = 120) -> str:
        """A PostgreSQL tool of `bin`, as the user PostgreSQL runs as; its output."""
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)

    def configure(self, settings: dict[str, str]) -> None:
        """Append `settings` to postgresql.conf (a later line wins over an earlier one)."""
        lines = "".join(f"{key} = '{value}'\n" for key, value in settings.items())
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# onshi deployment\n" + lines)

    @property
    def exists(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's process id while it runs (from its postmaster.pid)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # the postgres user's, and we are not root
            return pid
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (sessions ended, a clean shutdown) or `immediate` (what
        a crash leaves; committed work survives it)."""
        pid = self.pid()
        if pid is None:
            return
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        # pg_ctl returns once postmaster.pid is gone, a moment before the process is
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    def conninfo(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database} connect_timeout=5"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def execute(
        self, sql: str, params: tuple[object, ...] = (), database: str = "postgres"
    ) -> list[tuple[object, ...]]:
        """One statement in autocommit; its rows (none for a statement without)."""
        with psycopg.connect(self.conninfo(database), autocommit=True) as connection:
            cursor = connection.execute(sql.encode(), params or None)
            return list(cursor.fetchall()) if cursor.description else []


def init_primary(node: Node, databases: tuple[str, ...]) -> None:
    """A new primary: initdb, listening on 127.0.0.1 only (no Unix socket), ready to stream
    to one synchronous standby, started, with `databases` created.

    `synchronous_commit` is `local` by default: only a database that asks for more (the
    registry's, `remote_apply`) waits for the standby."""
    node.prepare_root()
    node.run("initdb", "-D", str(node.data), "-U", USER, "--auth=trust", "-E", "UTF8",
             "--locale=C.UTF-8")  # fmt: skip
    node.configure({
        "port": str(node.port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "synchronous_standby_names": STANDBY_NAME,
        "synchronous_commit": "local",
        "max_connections": "200",
    })  # fmt: skip
    node.start()
    for database in databases:
        node.execute(f'CREATE DATABASE "{database}"')


def init_standby(node: Node, primary: Node) -> None:
    """A streaming hot standby of `primary`: pg_basebackup with a replication slot of its
    own (`-C -S`: the primary keeps the WAL the standby has not received while it is away,
    so it catches up when it comes back) and the recovery settings written (`-R`)."""
    node.prepare_root()
    node.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", USER,
             "-D", str(node.data), "-R", "-C", "-S", STANDBY_NAME, "-X", "stream",
             "--checkpoint=fast")  # fmt: skip
    # cluster_name is the walreceiver's application_name on the primary, which
    # synchronous_standby_names names.
    node.configure({"port": str(node.port), "cluster_name": STANDBY_NAME, "hot_standby": "on"})
    node.start()


def wait_streaming(primary: Node, timeout_s: float = 60) -> None:
    """Until the primary streams to the standby (a synchronous commit waits for it)."""
    deadline = time.monotonic() + timeout_s
    query = "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s"
    while True:
        rows = primary.execute(query, (STANDBY_NAME,))
        if rows and rows[0][0] == "streaming":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the standby does not stream within {timeout_s} s: {rows}")
        time.sleep(0.1)
