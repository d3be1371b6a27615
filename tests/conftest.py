"""Fixtures shared across packages: the real PC/SC stack; and the logs of the whole run.

Every log record of the test run, in this process at DEBUG for onshi's own packages and from
every onshi command the tests start (through `ONSHI_LOG_FILE`), is collected in
`var/test-logs/`; `tests/test_logs.py` runs last and reads them for personal data.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_reader.emulator.vpcd import vpcd_port
from card_reader.pcscd import Pcscd

# Unset, ONSHI_ENV means production; the tests run on the development keys and the committed
# test issuer, so they ask for development by name (the tests of the production guards set
# or remove it themselves). Set on import, before any settings object is made.
os.environ["ONSHI_ENV"] = "development"

# The shared test support, as plugins: their fixtures are there for every test package, and no
# package imports another's conftest. One plugin imports another (world imports cards), so the
# whole package is marked for pytest's assertion rewriting before any of them is imported.
pytest.register_assert_rewrite("tests.support")
pytest_plugins = [
    "tests.support.world",
    "tests.support.registry",
    "tests.support.cards",
    "tests.support.desk",
    "tests.support.reader_page",
]

LOG_DIR = Path(__file__).resolve().parents[1] / "var" / "test-logs"
OWN_PACKAGES = ("card_reader", "insurer_registry", "qualification_server", "clinic_client")
LAST = "tests/test_logs.py"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    os.environ["ONSHI_LOG_FILE"] = str(LOG_DIR / "commands.log")
    os.environ["ONSHI_LOG_LEVEL"] = "DEBUG"
    handler = logging.FileHandler(LOG_DIR / "pytest.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))
    for name in OWN_PACKAGES:
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log check reads what every other test logged: it runs last."""
    items.sort(key=lambda item: item.nodeid.startswith(LAST))


@pytest.fixture(scope="session")
def _pcscd_session() -> Iterator[Pcscd]:
    """One pcscd with the vpcd driver for the whole run: ours, or one already running.

    Never skips: `make test` installs pcscd and vsmartcard-vpcd, and a missing part is a
    failure to report, not a test to leave out.
    """
    with Pcscd(listen_ports=(vpcd_port(0), vpcd_port(1))) as daemon:
        yield daemon


@pytest.fixture
def pcscd(_pcscd_session: Pcscd, request: pytest.FixtureRequest) -> Iterator[Pcscd]:
    """The session's pcscd, answering and with vpcd listening when the test starts.

    A pcscd that died (or lost its driver) is started again, with a warning naming the test
    it went down in and its log's end, so one crash fails one test, not every test after it.
    """
    daemon = _pcscd_session
    if daemon.recover():  # it went down between tests, in one that did not use it
        warnings.warn(f"pcscd was down before {request.node.nodeid}; restarted", stacklevel=1)
    yield daemon
    if not daemon.healthy():
        code, tail = daemon.exit_code(), daemon.log_tail()
        daemon.recover()
        warnings.warn(
            f"pcscd was down after {request.node.nodeid} (exit status {code}); restarted. "
            f"Its log ended: {tail or '(empty)'}",
            stacklevel=1,
        )
