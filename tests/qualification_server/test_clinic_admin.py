"""Responding to a leaked token, a stolen reader or a closed clinic: the service functions."""

from __future__ import annotations

import time

import pytest

from qualification_server.clinics import (
    ClinicAuthenticator,
    ClinicNotFound,
    DeviceNotFound,
    authenticate_clinic,
    disable_clinic,
    enable_clinic,
    list_clinics,
    remove_device,
    rotate_clinic_token,
)
from qualification_server.db import transaction
from qualification_server.errors import Code, QualificationError

from .conftest import CLINIC, OTHER_CLINIC, World

pytestmark = pytest.mark.db

UNREGISTERED = "1310000099"


def authenticate(world: World, token: str) -> None:
    with world.deps.sessions() as session:
        authenticate_clinic(session=session, token=token)


# --- the service functions ------------------------------------------------------------------


def test_a_rotated_token_is_refused_and_the_new_one_accepted(world: World) -> None:
    with transaction(world.deps.sessions) as session:
        new = rotate_clinic_token(session=session, code=CLINIC)
    assert new.startswith(f"{CLINIC}.") and new != world.clinic_token
    with pytest.raises(QualificationError) as refused:
        authenticate(world, world.clinic_token)
    assert refused.value.code is Code.CLIENT_UNAUTHENTICATED
    authenticate(world, new)
    authenticate(world, world.other_clinic_token)  # the other clinic is untouched


def test_a_disabled_clinic_is_refused_and_accepted_again_once_enabled(world: World) -> None:
    with transaction(world.deps.sessions) as session:
        assert disable_clinic(session=session, code=CLINIC, now=world.clock())
    with pytest.raises(QualificationError) as refused:
        authenticate(world, world.clinic_token)
    assert refused.value.code is Code.CLIENT_UNAUTHENTICATED
    with transaction(world.deps.sessions) as session:
        assert enable_clinic(session=session, code=CLINIC)
    authenticate(world, world.clinic_token)


def test_disabling_twice_keeps_the_first_date(world: World) -> None:
    first = world.clock()
    with transaction(world.deps.sessions) as session:
        assert disable_clinic(session=session, code=CLINIC, now=first)
    world.clock.advance(3600)
    with transaction(world.deps.sessions) as session:
        assert not disable_clinic(session=session, code=CLINIC, now=world.clock())
        assert not enable_clinic(session=session, code=OTHER_CLINIC)
    with world.deps.sessions() as session:
        disabled = {c.code: c.disabled_at for c in list_clinics(session=session)}
    assert disabled[OTHER_CLINIC] is None
    at = disabled[CLINIC]
    assert at is not None and at.replace(tzinfo=None) == first.replace(tzinfo=None)


def test_unknown_clinics_and_devices_are_errors_that_name_them(world: World) -> None:
    with transaction(world.deps.sessions) as session:
        with pytest.raises(ClinicNotFound) as no_clinic:
            rotate_clinic_token(session=session, code=UNREGISTERED)
        assert no_clinic.value.code == UNREGISTERED
        with pytest.raises(DeviceNotFound) as no_device:
            remove_device(session=session, clinic_code=CLINIC, device_id="face-9")
        assert (no_device.value.clinic_code, no_device.value.device_id) == (CLINIC, "face-9")
        with pytest.raises(DeviceNotFound):  # another clinic's device is not this one's
            remove_device(session=session, clinic_code=OTHER_CLINIC, device_id="face-1")


def test_the_running_servers_memory_keeps_a_rotated_token_for_its_ttl_only(world: World) -> None:
    """What the help and the docs promise: refused by a running server within 30 s."""
    remembering = ClinicAuthenticator(world.deps.sessions, ttl_s=30.0)
    short = ClinicAuthenticator(world.deps.sessions, ttl_s=0.2)
    remembering.authenticate(world.clinic_token)
    short.authenticate(world.clinic_token)
    with transaction(world.deps.sessions) as session:
        rotate_clinic_token(session=session, code=CLINIC)
    assert remembering.authenticate(world.clinic_token).code == CLINIC
    time.sleep(0.3)
    with pytest.raises(QualificationError):
        short.authenticate(world.clinic_token)
