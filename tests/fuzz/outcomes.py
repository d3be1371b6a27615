"""What a call under fuzzing came to: its value, or the one error type it may raise.

Anything else propagates and fails the test: that is the crash the properties look for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def attempt(call: Callable[[], T], allowed: type[E]) -> T | E:
    """`call()`, or the `allowed` error it raised (returned, for the test to inspect)."""
    try:
        return call()
    except allowed as error:
        return error
