"""No CRL rollback: an older CRL, still inside its validity, never un-revokes a card, at this
instance, after a restart, or at another instance on the same database."""

from __future__ import annotations

import base64
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from qualification_server.access_log.housekeeping import Housekeeper
from qualification_server.db import transaction
from qualification_server.trust import rollback
from qualification_server.trust.files import TrustStore
from qualification_server.trust.rollback import CrlHighWater, CrlMark
from tests.support.world import World

from .test_card_checks import card_body, error_code, post_card

pytestmark = pytest.mark.db


def _put_back(path: Path, data: bytes) -> None:
    """Restore an old file as a person would (a new inode and a new modification time)."""
    path.unlink()
    path.write_bytes(data)
    later = path.stat().st_mtime + 2
    os.utime(path, (later, later))


def _revoke(world: World, label: str) -> bytes:
    """Revoke the card's certificate; returns the CRL as it was before."""
    before = world.issuer.crl_path.read_bytes()
    der = base64.b64decode(world.proof(label, world.challenge())["certificate"])
    world.issuer.revoke(x509.load_der_x509_certificate(der).serial_number)
    return before


def _check(world: World, label: str) -> tuple[int, str | None]:
    status, answer = post_card(world, card_body(world, label, world.challenge()))
    return status, (error_code(answer) if status != 200 else None)


def test_an_older_crl_put_back_does_not_unrevoke_a_card(world: World) -> None:
    world.register("yamada-taro")
    assert _check(world, "yamada-taro") == (200, None)
    older = _revoke(world, "yamada-taro")
    assert _check(world, "yamada-taro") == (403, "Q1005")
    _put_back(world.issuer.crl_path, older)
    assert _check(world, "yamada-taro") == (403, "Q1005")  # the newer CRL is kept


def test_a_restart_remembers_the_newest_crl_through_the_database(world: World) -> None:
    """A new instance (a restart) reads the marks before it loads the CRL: the old CRL on
    disk is refused, and with no newer one in hand the CA fails closed (Q1006)."""
    older = _revoke(world, "yamada-taro")
    store = world.deps.trust
    store.anchors()
    with transaction(world.deps.sessions) as session:
        rollback.sync(session, store.high_water)
    _put_back(world.issuer.crl_path, older)
    marks = CrlHighWater()
    with transaction(world.deps.sessions) as session:
        rollback.sync(session, marks)
    restarted = TrustStore([world.issuer.ca_certificate_path(world.issuer.auth_ca.kind)],
                           [world.issuer.crl_path], high_water=marks)  # fmt: skip
    assert restarted.anchors().cas[0].crl is None


def test_another_instance_drops_an_older_crl_it_already_holds(world: World) -> None:
    """Instance B loaded the old CRL before instance A saw the new one; once the marks are
    synced, B stops using the old CRL (fail closed) rather than un-revoke."""
    ca = world.issuer.ca_certificate_path(world.issuer.auth_ca.kind)
    b = TrustStore([ca], [world.issuer.crl_path], check_interval_s=0)
    b_housekeeping = Housekeeper(world.deps.sessions, crl_marks=b.high_water)
    assert b.anchors().cas[0].crl is not None
    older = _revoke(world, "yamada-taro")
    world.deps.trust.anchors()  # instance A loads the new CRL ...
    Housekeeper(world.deps.sessions, crl_marks=world.deps.trust.high_water).sync_crl_marks_now()
    # ... while B's file is the old one again (a stale copy, a rollback at B's host)
    _put_back(world.issuer.crl_path, older)
    assert b.anchors().cas[0].crl is not None
    assert b_housekeeping.sync_crl_marks_now() is True
    assert b.anchors().cas[0].crl is None


NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seen", "offered", "admitted"),
    [
        (CrlMark(5, NOW), CrlMark(5, NOW), True),  # the same CRL again
        (CrlMark(5, NOW), CrlMark(6, NOW + dt.timedelta(hours=1)), True),  # the next one
        (CrlMark(5, NOW), CrlMark(4, NOW + dt.timedelta(hours=1)), False),  # a lower number
        (CrlMark(5, NOW), CrlMark(6, NOW - dt.timedelta(hours=1)), False),  # an older date
        (CrlMark(-1, NOW), CrlMark(-1, NOW - dt.timedelta(seconds=1)), False),  # no number
    ],
)
def test_a_crl_below_the_mark_in_number_or_date_is_refused(
    seen: CrlMark, offered: CrlMark, admitted: bool
) -> None:
    marks = CrlHighWater()
    assert marks.admits("ca", seen)
    assert marks.admits("ca", offered) is admitted


def test_the_database_keeps_the_greatest_mark_whoever_writes_last(world: World) -> None:
    high, low = CrlHighWater(), CrlHighWater()
    high.admits("ca", CrlMark(10**40, NOW))
    low.admits("ca", CrlMark(3, NOW - dt.timedelta(days=1)))
    for marks in (high, low):
        with transaction(world.deps.sessions) as session:
            rollback.sync(session, marks)
    fresh = CrlHighWater()
    with transaction(world.deps.sessions) as session:
        rollback.sync(session, fresh)
    assert fresh.mark_of("ca") == CrlMark(10**40, NOW)


@pytest.mark.parametrize("newest_first", [True, False])
def test_of_two_crl_files_of_one_ca_the_newest_is_used_whatever_their_order(
    world: World, tmp_path: Path, newest_first: bool
) -> None:
    older = _revoke(world, "yamada-taro")
    newer = world.issuer.crl_path.read_bytes()
    (tmp_path / "older.crl").write_bytes(older)
    (tmp_path / "newer.crl").write_bytes(newer)
    files = [tmp_path / "newer.crl", tmp_path / "older.crl"]
    ca = world.issuer.ca_certificate_path(world.issuer.auth_ca.kind)
    store = TrustStore([ca], files if newest_first else files[::-1])
    used = store.anchors().cas[0].crl
    assert used is not None
    assert used.public_bytes(serialization.Encoding.DER) == newer


def test_a_failing_crl_sync_does_not_stop_the_pruning_of_used_challenges(world: World) -> None:
    """Each upkeep task fails on its own: a CRL-mark sync that keeps failing (the database
    refusing it) must not skip the pruning that shares its rounds."""
    from sqlalchemy.exc import OperationalError

    class Upkeep(Housekeeper):
        pruned = 0

        def sync_crl_marks_now(self) -> bool:
            raise OperationalError("SELECT", {}, Exception("refused"))

        def prune_now(self) -> int:
            Upkeep.pruned += 1
            return 0

    upkeep = Upkeep(world.deps.sessions, interval_s=0.001)
    upkeep.start()
    deadline = time.monotonic() + 20
    while Upkeep.pruned == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    upkeep.stop()
    assert Upkeep.pruned >= 1
