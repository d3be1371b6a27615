"""Async code run from a synchronous test, on an event loop of its own."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def in_a_loop_of_its_own(run: Callable[..., T], *args: Any) -> T:
    """`run(*args)` (`asyncio.run`, `anyio.run`) in a thread of its own, its result or its
    exception: the session's `browser` fixture (tests/support/desk.py) keeps Playwright's
    sync API, and with it an event loop, running in the test's thread from the first browser
    test on, and no other loop may start there."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(run, *args).result()
