"""The registry's failover URL as both drivers take it: SQLAlchemy's engine (psycopg's
connect arguments) and libpq's own conninfo for the async pool."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import make_url

from onshi_kernel.db import fails_over, libpq_url

STANDBY_FIRST = {
    "host": "127.0.0.1,127.0.0.1",
    "port": "5441,5440",
    "target_session_attrs": "prefer-standby",
}


@pytest.mark.parametrize(
    "url",
    [
        # libpq's lists, as the deployment writes them
        "postgresql+psycopg://onshi@/registry?host=127.0.0.1,127.0.0.1&port=5441,5440"
        "&target_session_attrs=prefer-standby",
        # SQLAlchemy's repeated host=name:port
        "postgresql+psycopg://onshi@/registry?host=127.0.0.1:5441&host=127.0.0.1:5440"
        "&target_session_attrs=prefer-standby",
    ],
)
def test_a_url_of_two_hosts_fails_over_and_reaches_libpq_as_its_lists(url: str) -> None:
    assert fails_over(url)
    conninfo = conninfo_to_dict(libpq_url(make_url(url)))
    assert conninfo == {"user": "onshi", "dbname": "registry", **STANDBY_FIRST}


def test_a_url_of_one_host_does_not_fail_over_and_keeps_its_password() -> None:
    url = "postgresql+psycopg://onshi:secret@127.0.0.1:5432/registry"
    assert not fails_over(url)
    assert conninfo_to_dict(libpq_url(make_url(url))) == {
        "user": "onshi", "password": "secret", "dbname": "registry",
        "host": "127.0.0.1", "port": "5432",
    }  # fmt: skip
