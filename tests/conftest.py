"""Fixtures shared across packages: the real PC/SC stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from card_reader.pcscd import Pcscd


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    """A running pcscd with the vpcd driver: ours, or one that was already running.

    Never skips: `make test` installs pcscd and vsmartcard-vpcd, and a missing part is a
    failure to report, not a test to leave out.
    """
    with Pcscd() as daemon:
        yield daemon
