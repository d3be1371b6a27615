"""Responding to a leaked token, a stolen reader or a closed clinic: the service functions and
`qualification-server clinic …` as an administrator runs them, against the running app."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from qualification_server import cli
from qualification_server.clinics.service import (
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
from tests.support.world import CLINIC, OTHER_CLINIC, World

pytestmark = pytest.mark.db

UNREGISTERED = "1310000099"


@pytest.fixture
def admin(world: World, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line, on the world's database."""
    monkeypatch.setenv("DATABASE_URL", world.deps.settings.database_url)
    return CliRunner()


def run(admin: CliRunner, *args: str) -> Result:
    return admin.invoke(cli.app, ["clinic", *args])


def authenticate(world: World, token: str) -> None:
    with world.deps.sessions() as session:
        authenticate_clinic(session=session, token=token)


def challenge_status(world: World, token: str) -> tuple[int, dict[str, Any]]:
    """`POST /v1/challenges` with `token`, as a server instance that has not seen it yet."""
    world.client.app.state.clinics = ClinicAuthenticator(world.deps.sessions)  # type: ignore[attr-defined]
    response = world.client.post(
        "/v1/challenges", json={"purpose": "check"}, headers=world.headers(token)
    )
    return response.status_code, response.json()


def face_check(world: World, device_id: str = "face-1") -> tuple[int, dict[str, Any]]:
    """A card check proved by the clinic's reader `face-1` (its key), named `device_id`."""
    body = world.face_body("yamada-taro", device_id)
    response = world.client.post("/v1/eligibility/card", json=body, headers=world.headers())
    return response.status_code, response.json()


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


# --- the command line, against the app ------------------------------------------------------


def test_rotate_token_prints_a_new_token_that_works_and_the_old_one_does_not(
    world: World, admin: CliRunner
) -> None:
    result = run(admin, "rotate-token", CLINIC)
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert new.startswith(f"{CLINIC}.") and new != world.clinic_token
    assert "30 s" in result.stderr
    status, answer = challenge_status(world, world.clinic_token)
    assert (status, answer["error"]["code"]) == (401, "Q5001")
    assert challenge_status(world, new)[0] == 200


def test_a_disabled_clinic_gets_the_answer_of_an_unknown_one(
    world: World, admin: CliRunner, caplog: pytest.LogCaptureFixture
) -> None:
    result = run(admin, "disable", CLINIC)
    assert result.exit_code == 0, result.output
    assert f"clinic {CLINIC} disabled" in result.stdout
    with caplog.at_level(logging.INFO, logger="qualification_server.clinics.service"):
        disabled = challenge_status(world, world.clinic_token)
    unknown_token = f"{UNREGISTERED}.{world.clinic_token.split('.', 1)[1]}"
    unknown = challenge_status(world, unknown_token)
    for _, answer in (disabled, unknown):
        del answer["error"]["request_id"]
    assert disabled == unknown
    assert disabled[0] == 401 and disabled[1]["error"]["code"] == "Q5001"
    assert "disabled" not in str(disabled[1])
    assert f"clinic {CLINIC} is disabled" in caplog.text  # the server's log may say why


def test_an_enabled_clinic_is_accepted_again(world: World, admin: CliRunner) -> None:
    assert run(admin, "disable", CLINIC).exit_code == 0
    assert run(admin, "disable", CLINIC).stdout.strip() == f"clinic {CLINIC} was already disabled"
    assert challenge_status(world, world.clinic_token)[0] == 401
    result = run(admin, "enable", CLINIC)
    assert (result.exit_code, result.stdout.strip()) == (0, f"clinic {CLINIC} enabled")
    assert challenge_status(world, world.clinic_token)[0] == 200
    assert run(admin, "enable", CLINIC).stdout.strip() == f"clinic {CLINIC} was not disabled"


def test_a_removed_device_signs_no_more_checks(world: World, admin: CliRunner) -> None:
    world.register("yamada-taro")
    assert face_check(world)[0] == 200
    result = run(admin, "device-remove", CLINIC, "face-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"device face-1 removed from clinic {CLINIC}"
    status, answer = face_check(world)
    assert (status, answer["error"]["code"]) == (403, Code.DEVICE_UNKNOWN.value)


def test_list_shows_each_clinic_without_its_token(world: World, admin: CliRunner) -> None:
    assert run(admin, "disable", OTHER_CLINIC).exit_code == 0
    result = run(admin, "list")
    assert result.exit_code == 0, result.output
    today = world.clock().date().isoformat()
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0] == ["code", "name", "registered", "status", "devices"]
    assert lines[1] == [CLINIC, "霞が関クリニック", today, "enabled", "1"]
    assert lines[2][:3] == [OTHER_CLINIC, "梅田薬局", today]
    assert lines[2][3].startswith("disabled since ") and lines[2][4] == "0"
    assert len(lines) == 3
    for token in (world.clinic_token, world.other_clinic_token):
        assert token.split(".", 1)[1] not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rotate-token", UNREGISTERED), f"no clinic {UNREGISTERED} is registered"),
        (("disable", UNREGISTERED), f"no clinic {UNREGISTERED} is registered"),
        (("enable", UNREGISTERED), f"no clinic {UNREGISTERED} is registered"),
        (("device-remove", UNREGISTERED, "face-1"), f"no clinic {UNREGISTERED} is registered"),
        (("device-remove", CLINIC, "face-9"), f"clinic {CLINIC} has no device 'face-9'"),
        (
            ("device", CLINIC, "face-1", "00" * 32),
            f"clinic {CLINIC} already has a device 'face-1'",
        ),
        (("disable", "13100"), "a medical institution code is 10 digits"),
    ],
)
def test_unknown_clinics_and_devices_exit_1_naming_them(
    world: World, admin: CliRunner, args: tuple[str, ...], message: str
) -> None:
    result = run(admin, *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"qualification-server: {message}"
    assert result.stdout == ""
    assert challenge_status(world, world.clinic_token)[0] == 200  # nothing changed
