"""Engines, sessions and schema migrations, for every onshi package with a database: each
brings its own migrations folder (and Alembic version table)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def with_psycopg3(url: str) -> str:
    """A bare postgresql:// would make SQLAlchemy look for psycopg2, which we do not ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# A connection of a failover URL is renewed this often, so that reads that fell back to the
# primary while a standby was away go back to the standby within a minute of its return.
FAILOVER_RECYCLE_S = 60


def fails_over(url: str | URL) -> bool:
    """Whether `url` names several PostgreSQL hosts for libpq to choose from (in order, or
    by `target_session_attrs`): `?host=a,b&port=5433,5432`, or SQLAlchemy's repeated
    `?host=a:5433&host=b:5432`."""
    parsed = make_url(url) if isinstance(url, str) else url
    hosts = parsed.query.get("host")
    if isinstance(hosts, tuple):
        return len(hosts) > 1 or any("," in host for host in hosts)
    return hosts is not None and "," in hosts


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for `url`. SQLite gets foreign keys, WAL and a busy timeout; a SQLite
    file's folder is created when missing.

    A server engine is sized with `pool_size` (as many again may overflow). Connections to
    one host are not pinged on checkout: a connection that died with a database restart
    fails its request, which SQLAlchemy turns into invalidating the whole pool, so service
    resumes with fresh connections and healthy requests pay no extra round trip. A URL
    that fails over (`fails_over`: a standby first, the primary after) is another matter:
    the standby going away is expected there, so each checkout pings its connection and a
    dead one is replaced by a new connection (to the primary, while the standby is away)
    before the request uses it; and connections are renewed every `FAILOVER_RECYCLE_S`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if fails_over(parsed):
            return create_engine(
                url, pool_size=pool_size, max_overflow=pool_size,
                pool_pre_ping=True, pool_recycle=FAILOVER_RECYCLE_S,
            )  # fmt: skip
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins, so BEGIN covers
        # reads too (the documented recipe for serializable SQLite transactions).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start: two writers queue instead of one
        # failing half-way with "database is locked".
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine, migrations: Path) -> Config:
    """Alembic configured from a package's migrations folder, so they run from a wheel."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head", *, migrations: Path) -> None:
    """Bring the schema to `revision` (the newest by default)."""
    command.upgrade(alembic_config(engine, migrations), revision)


def downgrade(engine: Engine, revision: str, *, migrations: Path) -> None:
    """Take the schema back to `revision` (`base` removes every table)."""
    command.downgrade(alembic_config(engine, migrations), revision)


class AsyncPostgres:
    """PostgreSQL connections for `async` code, in autocommit, for hot paths that are one
    statement each (no BEGIN/COMMIT round trips).

    A pool belongs to an event loop: an application opens one for its loop at start-up
    (`open`) and closes it at shutdown (`aclose`); that is psycopg's own async pool. Code on
    any other loop (a test's, a script's) gets a connection of its own for each use, so a
    short-lived loop never leaves a pool or its connections behind.

    A URL that fails over (`fails_over`) gets what `make_engine` gives it: the pool checks a
    connection before handing it out (psycopg's `check_connection`, an empty query) and
    renews connections every `FAILOVER_RECYCLE_S`.
    """

    def __init__(self, url: str | URL, *, max_size: int = 10, timeout_s: float = 3.0) -> None:
        parsed = make_url(url) if isinstance(url, str) else url
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"AsyncPostgres is for PostgreSQL, not {parsed.get_backend_name()}")
        self._conninfo = libpq_url(parsed)
        self._fails_over = fails_over(parsed)
        self._max_size = max_size
        self._timeout = timeout_s  # waiting for a connection: fail fast when the database is away
        self._pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}

    async def open(self) -> None:
        """Open the pool of the running event loop (idempotent)."""
        loop = asyncio.get_running_loop()
        if loop in self._pools:
            return
        failover: dict[str, Any] = {}
        if self._fails_over:
            failover = {
                "check": AsyncConnectionPool.check_connection,
                "max_lifetime": float(FAILOVER_RECYCLE_S),
            }
        pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            timeout=self._timeout,
            open=False,
            **failover,
        )
        self._pools[loop] = pool
        try:
            await pool.open()
        except BaseException:
            del self._pools[loop]
            raise

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A connection in autocommit (`async with`): from the running loop's pool, or of
        its own."""
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is not None:
            return _Borrowed(pool)
        return self._own_connection()

    @asynccontextmanager
    async def _own_connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        own = await AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=max(1, int(self._timeout))
        )
        async with own:
            yield own

    async def aclose(self) -> None:
        """Close the running event loop's pool, if it has one."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()


class _Borrowed:
    """A connection borrowed from a pool for one `async with`, given back at its end.

    What the pool's own `connection()` does, without its two generator-based context
    managers: their frames cost as much CPU as the borrowing (16 µs a check's statement). The
    connections are in autocommit, so there is no transaction to end; one given back broken
    or mid-query (a cancelled statement) the pool discards and replaces (`putconn`)."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._connection: AsyncConnection[Any] | None = None

    async def __aenter__(self) -> AsyncConnection[Any]:
        self._connection = await self._pool.getconn()
        return self._connection

    async def __aexit__(self, *_exc: object) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._pool.putconn(connection)


def libpq_url(url: URL) -> str:
    """`url` as libpq takes it: without SQLAlchemy's "+driver", and SQLAlchemy's repeated
    `host=a:5433&host=b:5432` as libpq's own lists (`host=a,b&port=5433,5432`)."""
    url = url.set(drivername="postgresql")
    hosts = url.query.get("host")
    if isinstance(hosts, tuple):
        names, ports = [], []
        for host in hosts:
            name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
            names.append(name)
            ports.append(port)
        query = {key: value for key, value in url.query.items() if key != "host"}
        query["host"] = ",".join(names)
        if any(ports):
            query["port"] = ",".join(ports)
        url = url.set(query=query)
    return url.render_as_string(hide_password=False)
