"""The server's pure parts as vectors, with no database: the challenge's layout and MAC,
what a face or visual reader signs, and the confirmation date."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import struct

import pytest

from qualification_server.answers.eligibility import confirmation_date
from qualification_server.cards.challenges import (
    MAX_CLOCK_AHEAD,
    TOKEN_SIZE,
    Purpose,
    check_challenge,
    issue_challenge,
    open_challenge,
)
from qualification_server.contract.presence import (
    CHALLENGE_BYTES,
    FACE_PROOF_CONTEXT,
    Method,
    device_message,
)
from qualification_server.errors import Code, QualificationError

KEY = bytes(range(32))
CLINIC = "1310000017"
ISSUED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
CHALLENGE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")


def _token(*, purpose: int = 1, client: bytes = CLINIC.encode(), version: int = 1) -> bytes:
    """A challenge built by hand from its layout: version | purpose | client | issued ms |
    expires ms | id, then HMAC-SHA-256 of all of it under the server's key."""
    issued_ms = int(ISSUED.timestamp() * 1000)
    payload = struct.pack(
        ">BB10sQQ16s", version, purpose, client, issued_ms, issued_ms + 120_000, CHALLENGE_ID
    )
    return payload + hmac.new(KEY, payload, hashlib.sha256).digest()


def _code(call: object) -> Code:
    with pytest.raises(QualificationError) as raised:
        call()  # type: ignore[operator]
    return raised.value.code


def test_a_challenge_is_as_long_as_the_contract_says() -> None:
    assert TOKEN_SIZE == CHALLENGE_BYTES == len(_token()) == 76


def test_a_hand_built_challenge_opens_to_its_fields() -> None:
    challenge = open_challenge(_token(), key=KEY)
    assert challenge.purpose is Purpose.CHECK
    assert challenge.client == CLINIC
    assert challenge.issued_at == ISSUED
    assert challenge.expires_at == ISSUED + dt.timedelta(seconds=120)
    assert challenge.challenge_id == CHALLENGE_ID.hex()


def test_an_issued_challenge_opens_again_and_lasts_its_ttl() -> None:
    issued = issue_challenge(key=KEY, purpose=Purpose.PORTAL, client=None, now=ISSUED, ttl_s=90)
    again = open_challenge(issued.token, key=KEY)
    assert again == issued
    assert again.client is None
    assert again.expires_at - again.issued_at == dt.timedelta(seconds=90)


@pytest.mark.parametrize("position", [0, 1, 5, 20, 29, 43, 59, 60, 75])
def test_any_flipped_bit_makes_the_challenge_unknown(position: int) -> None:
    token = bytearray(_token())
    token[position] ^= 0x01
    assert _code(lambda: open_challenge(bytes(token), key=KEY)) is Code.CHALLENGE_UNKNOWN


def test_another_key_does_not_open_it() -> None:
    assert _code(lambda: open_challenge(_token(), key=bytes(32))) is Code.CHALLENGE_UNKNOWN


@pytest.mark.parametrize("size", [0, 75, 77])
def test_a_challenge_of_another_size_is_unknown(size: int) -> None:
    token = (_token() * 2)[:size]
    assert _code(lambda: open_challenge(token, key=KEY)) is Code.CHALLENGE_UNKNOWN


@pytest.mark.parametrize(("version", "purpose"), [(2, 1), (1, 0), (1, 4)])
def test_an_unknown_version_or_purpose_is_unknown(version: int, purpose: int) -> None:
    token = _token(version=version, purpose=purpose)
    assert _code(lambda: open_challenge(token, key=KEY)) is Code.CHALLENGE_UNKNOWN


@pytest.mark.parametrize(
    ("purpose", "client", "now", "code"),
    [
        (Purpose.REGISTRATION, CLINIC, ISSUED, Code.CHALLENGE_FOREIGN),
        (Purpose.CHECK, "1310000025", ISSUED, Code.CHALLENGE_FOREIGN),
        (Purpose.CHECK, CLINIC, ISSUED + dt.timedelta(seconds=121), Code.CHALLENGE_EXPIRED),
        (Purpose.CHECK, CLINIC, ISSUED - MAX_CLOCK_AHEAD - dt.timedelta(seconds=1),
         Code.CHALLENGE_UNKNOWN),  # issued in this instance's future
    ],
)  # fmt: skip
def test_a_challenge_is_for_one_purpose_client_and_time(
    purpose: Purpose, client: str, now: dt.datetime, code: Code
) -> None:
    call = lambda: check_challenge(_token(), key=KEY, purpose=purpose, client=client, now=now)  # noqa: E731
    assert _code(call) is code


def test_the_face_proof_message_is_context_challenge_certificate_hash_method() -> None:
    challenge, certificate = _token(), b"\x30\x82\x01\x00certificate"
    message = device_message(challenge, certificate, Method.FACE)
    assert message == (
        b"onshi-presence-proof/1\x00" + challenge + hashlib.sha256(certificate).digest() + b"face"
    )
    assert message.startswith(FACE_PROOF_CONTEXT)
    assert device_message(challenge, certificate, Method.VISUAL).endswith(b"visual")


@pytest.mark.parametrize("method", [Method.PIN, Method.INSURED_NUMBER])
def test_a_device_proof_is_for_face_or_visual_checks_only(method: Method) -> None:
    with pytest.raises(ValueError, match="face or visual"):
        device_message(_token(), b"cert", method)


@pytest.mark.parametrize(
    ("value", "day"),
    [
        (None, dt.date(2026, 12, 2)),  # 15:30 UTC is already the next day in Japan
        ("20261201", dt.date(2026, 12, 1)),
        ("00040229", dt.date(4, 2, 29)),
    ],
)
def test_the_confirmation_date_is_the_day_asked_or_today_in_japan(
    value: str | None, day: dt.date
) -> None:
    assert confirmation_date(value, dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC)) == day


def test_a_confirmation_date_that_is_no_date_is_refused() -> None:
    assert _code(lambda: confirmation_date("20261301", ISSUED)) is Code.INVALID_REQUEST
