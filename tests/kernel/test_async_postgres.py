"""`AsyncPostgres`: connections borrowed from the running loop's pool go back whole, and one
that broke or stopped mid-statement is replaced, never handed out again as it was.

Always against PostgreSQL (`AsyncPostgres` is PostgreSQL's only): the database
`DATABASE_URL` names when it is PostgreSQL, else `PG_URL`'s (what `make test` sets), else
the local one. No tables: the statements are the server's own functions."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import make_url

from onshi_kernel.db import AsyncPostgres, libpq_url
from tests.support.loops import in_a_loop_of_its_own

_DEFAULT = "postgresql+psycopg://root@127.0.0.1:5432/test"


def _url() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgresql"):
        return configured
    return os.environ.get("PG_URL") or _DEFAULT


@pytest.fixture
def url() -> str:
    url = _url()
    try:
        psycopg.connect(libpq_url(make_url(url)), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL at {make_url(url).render_as_string()} is not reachable: {exc}")
    return url


def _pool(postgres: AsyncPostgres) -> AsyncConnectionPool:
    return postgres._pools[asyncio.get_running_loop()]


@contextlib.asynccontextmanager
async def _opened(url: str, *, max_size: int) -> AsyncIterator[AsyncPostgres]:
    """An `AsyncPostgres` with its pool open on this test's loop, closed after."""
    postgres = AsyncPostgres(url, max_size=max_size, timeout_s=5)
    await postgres.open()
    try:
        yield postgres
    finally:
        await postgres.aclose()


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(make_url(url)), autocommit=True)


async def _backend(postgres: AsyncPostgres) -> int:
    async with postgres.connection() as connection:
        row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return int(row[0])


def test_borrowed_connections_go_back_to_the_pool(url: str) -> None:
    in_a_loop_of_its_own(asyncio.run, _borrowed_connections_go_back_to_the_pool(url))


async def _borrowed_connections_go_back_to_the_pool(url: str) -> None:
    async with _opened(url, max_size=2) as postgres:
        # Twenty at once through a pool of two: each waits its turn, none is lost.
        pids = await asyncio.gather(*(_backend(postgres) for _ in range(20)))
        stats = _pool(postgres).get_stats()
        assert len(set(pids)) <= 2
        assert stats["pool_size"] == stats["pool_available"] <= 2
        assert stats.get("requests_waiting", 0) == 0
        async with postgres.connection() as connection:
            assert connection.autocommit


def test_a_statement_stopped_midway_leaves_no_connection_mid_statement(url: str) -> None:
    in_a_loop_of_its_own(
        asyncio.run, _a_statement_stopped_midway_leaves_no_connection_mid_statement(url)
    )


async def _a_statement_stopped_midway_leaves_no_connection_mid_statement(url: str) -> None:
    async with _opened(url, max_size=1) as postgres:

        async def sleeps() -> None:
            async with postgres.connection() as connection:
                await connection.execute("SELECT pg_sleep(30) -- stopped midway")

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sleeps(), timeout=0.3)
        # With one connection only: had it come back still inside its statement, this would
        # wait for it and time out (psycopg cancels the statement at the server; a
        # connection the cancel cannot bring back the pool closes and replaces).
        await asyncio.wait_for(_backend(postgres), timeout=5)
        with _admin(url) as admin:
            running = admin.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state = 'active' AND query LIKE '%stopped midway'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
        assert running == (0,)


def test_a_connection_the_server_closed_is_replaced_after_its_failure(url: str) -> None:
    in_a_loop_of_its_own(
        asyncio.run, _a_connection_the_server_closed_is_replaced_after_its_failure(url)
    )


async def _a_connection_the_server_closed_is_replaced_after_its_failure(url: str) -> None:
    async with _opened(url, max_size=1) as postgres:
        dropped = await _backend(postgres)
        with _admin(url) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
        # The pool learns of it from the statement that fails (no check before each borrow
        # unless the URL fails over), and replaces the connection once it is given back.
        with pytest.raises(psycopg.OperationalError):
            await _backend(postgres)
        assert await asyncio.wait_for(_backend(postgres), timeout=5) != dropped


def test_without_a_pool_on_this_loop_a_connection_of_its_own_is_closed_after(url: str) -> None:
    in_a_loop_of_its_own(
        asyncio.run, _without_a_pool_on_this_loop_a_connection_of_its_own_is_closed_after(url)
    )


async def _without_a_pool_on_this_loop_a_connection_of_its_own_is_closed_after(url: str) -> None:
    postgres = AsyncPostgres(url)  # never opened: another loop's code, a script's
    async with postgres.connection() as connection:
        await connection.execute("SELECT 1")
        assert connection.autocommit
    assert connection.closed
