"""Server-issued challenges: random, single-use, short-lived, bound to who asked. No I/O.

A challenge is self-contained and authenticated (HMAC-SHA-256 under the server's challenge
key), so issuing one writes nothing and any instance behind the load balancer can check it.
Single use is enforced where the check is recorded: the challenge id goes into
`used_challenges` in the same transaction (see `check_record.py`), by the database's clock.

Layout (big-endian): version 1 | purpose 1 | client 10 (clinic code, or zeros) |
issued ms 8 | expires ms 8 | id 16, then the 32-byte MAC. The card signs SHA-256 of all of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from enum import IntEnum

from qualification_server.contract.presence import CHALLENGE_BYTES
from qualification_server.errors import Code, QualificationError

VERSION = 1
_LAYOUT = struct.Struct(">BB10sQQ16s")
MAC_SIZE = 32
TOKEN_SIZE = _LAYOUT.size + MAC_SIZE
if TOKEN_SIZE != CHALLENGE_BYTES:  # the contract publishes the size: keep them one
    raise RuntimeError(f"a challenge is {TOKEN_SIZE} bytes, the contract says {CHALLENGE_BYTES}")
NO_CLIENT = b"0" * 10
# Instances behind one load balancer run on synchronised clocks; a challenge stamped further
# ahead than this comes from a clock that is wrong, and would live longer than its lifetime.
MAX_CLOCK_AHEAD = dt.timedelta(seconds=5)


class Purpose(IntEnum):
    """What a challenge may prove: a front-desk check, a registration, a portal login."""

    CHECK = 1
    REGISTRATION = 2
    PORTAL = 3


@dataclass(frozen=True, slots=True)
class Challenge:
    """A decoded challenge. `token` is what the card (or device) signs."""

    purpose: Purpose
    client: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    challenge_id: str
    token: bytes


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def issue_challenge(
    *, key: bytes, purpose: Purpose, client: str | None, now: dt.datetime, ttl_s: int
) -> Challenge:
    """A fresh challenge for `client` (a 10-digit clinic code, or None for the portal)."""
    client_bytes = client.encode("ascii") if client else NO_CLIENT
    if len(client_bytes) != len(NO_CLIENT):
        raise ValueError("a client is a 10-digit medical institution code")
    expires = now + dt.timedelta(seconds=ttl_s)
    payload = _LAYOUT.pack(
        VERSION, purpose, client_bytes, _ms(now), _ms(expires), secrets.token_bytes(16)
    )
    token = payload + hmac.new(key, payload, hashlib.sha256).digest()
    return open_challenge(token, key=key)


def open_challenge(token: bytes, *, key: bytes) -> Challenge:
    """Check the MAC and decode. Raises `QualificationError(CHALLENGE_UNKNOWN)`."""
    if len(token) != TOKEN_SIZE:
        raise QualificationError(Code.CHALLENGE_UNKNOWN, f"a challenge has {TOKEN_SIZE} bytes")
    payload, mac = token[: _LAYOUT.size], token[_LAYOUT.size :]
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise QualificationError(Code.CHALLENGE_UNKNOWN, "the challenge MAC does not verify")
    version, purpose, client, issued, expires, challenge_id = _LAYOUT.unpack(payload)
    if version != VERSION or purpose not in Purpose._value2member_map_:
        raise QualificationError(Code.CHALLENGE_UNKNOWN, "unknown challenge version or purpose")
    return Challenge(
        purpose=Purpose(purpose),
        client=None if client == NO_CLIENT else client.decode("ascii"),
        issued_at=_from_ms(issued),
        expires_at=_from_ms(expires),
        challenge_id=challenge_id.hex(),
        token=token,
    )


def check_challenge(
    token: bytes, *, key: bytes, purpose: Purpose, client: str | None, now: dt.datetime
) -> Challenge:
    """Open a challenge and check it is for this purpose and client, and not expired."""
    challenge = open_challenge(token, key=key)
    if challenge.purpose is not purpose:
        raise QualificationError(
            Code.CHALLENGE_FOREIGN, f"issued for {challenge.purpose.name}, used for {purpose.name}"
        )
    if challenge.client != client:
        raise QualificationError(Code.CHALLENGE_FOREIGN, "issued to another client")
    if now > challenge.expires_at:
        raise QualificationError(Code.CHALLENGE_EXPIRED)
    if challenge.issued_at > now + MAX_CLOCK_AHEAD:
        raise QualificationError(
            Code.CHALLENGE_UNKNOWN,
            f"issued {(challenge.issued_at - now).total_seconds():.0f} s in the future: the "
            "issuing instance's clock is ahead of this one's",
        )
    return challenge
