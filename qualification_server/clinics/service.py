"""Clinics and their registered reader devices.

A clinic authenticates with a bearer token `<医療機関コード>.<secret>`, shown once when the
clinic is registered; the server keeps SHA-256 of the secret and compares in constant time.
A leaked token is replaced (`rotate_clinic_token`), a clinic that must stop asking is
disabled (`disable_clinic`), a lost or stolen reader is removed (`remove_device`). A running
server trusts a token it saw valid for up to `ClinicAuthenticator`'s `ttl_s` (30 s) more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.orm import Session, sessionmaker

from onshi_kernel.numbers import validate_clinic_code
from qualification_server.errors import Code, QualificationError
from qualification_server.models import Clinic, ClinicDevice

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClinicIdentity:
    """An authenticated clinic."""

    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ClinicSummary:
    """A registered clinic as its administrator sees it (no token, not even its hash)."""

    code: str
    name: str
    registered_at: dt.datetime
    disabled_at: dt.datetime | None
    devices: int


class ClinicNotFound(ValueError):
    """No clinic is registered under this 医療機関コード."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no clinic {code} is registered")
        self.code = code


class DeviceNotFound(ValueError):
    """The clinic has no reader device of this id."""

    def __init__(self, clinic_code: str, device_id: str) -> None:
        super().__init__(f"clinic {clinic_code} has no device {device_id!r}")
        self.clinic_code = clinic_code
        self.device_id = device_id


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# What an unknown code's presented secret is compared with: a digest made as a clinic's is,
# of a secret nobody holds.
_UNKNOWN_CLINIC_DIGEST = _hash(secrets.token_urlsafe(32))


def _new_secret() -> tuple[str, bytes]:
    """A fresh secret and the digest the server keeps of it."""
    secret = secrets.token_urlsafe(32)
    return secret, _hash(secret)


def _clinic(session: Session, code: str) -> Clinic:
    """The clinic registered under `code`. Raises `ClinicNotFound` (or ValueError when `code`
    is not a 医療機関コード at all)."""
    validate_clinic_code(code)
    clinic = session.scalars(select(Clinic).where(Clinic.code == code)).first()
    if clinic is None:
        raise ClinicNotFound(code)
    return clinic


def register_clinic(*, session: Session, code: str, name: str, now: dt.datetime) -> str:
    """Register a clinic; return its token (shown once, never stored)."""
    validate_clinic_code(code)
    if session.scalars(select(Clinic).where(Clinic.code == code)).first() is not None:
        raise ValueError(f"clinic {code} is already registered")
    secret, digest = _new_secret()
    session.add(Clinic(code=code, name=name, token_hash=digest, created_at=now))
    return f"{code}.{secret}"


def rotate_clinic_token(*, session: Session, code: str) -> str:
    """Give a clinic a new token and return it (shown once); the old one stops working.
    Raises `ClinicNotFound`."""
    clinic = _clinic(session, code)
    secret, digest = _new_secret()
    clinic.token_hash = digest
    log.info("clinic %s: token replaced", code)
    return f"{code}.{secret}"


def disable_clinic(*, session: Session, code: str, now: dt.datetime) -> bool:
    """Refuse the clinic's token from now on, as if the clinic were unknown; False if it
    already was disabled (it keeps its first date). Raises `ClinicNotFound`."""
    clinic = _clinic(session, code)
    if clinic.disabled_at is not None:
        return False
    clinic.disabled_at = now
    log.info("clinic %s: disabled", code)
    return True


def enable_clinic(*, session: Session, code: str) -> bool:
    """Accept a disabled clinic's token again; False if it was not disabled. Raises
    `ClinicNotFound`."""
    clinic = _clinic(session, code)
    if clinic.disabled_at is None:
        return False
    clinic.disabled_at = None
    log.info("clinic %s: enabled", code)
    return True


def list_clinics(*, session: Session) -> list[ClinicSummary]:
    """Every registered clinic with its number of reader devices, by code."""
    devices = (
        select(func.count(ClinicDevice.id))
        .where(ClinicDevice.clinic_id == Clinic.id)
        .scalar_subquery()
    )
    columns = (Clinic.code, Clinic.name, Clinic.created_at, Clinic.disabled_at, devices)
    rows = session.execute(select(*columns).order_by(Clinic.code))
    return [ClinicSummary(*row) for row in rows]


# The clinic registered under :code as one row of plain columns, or one row of NULLs when
# there is none (an outer join from a one-row select): the database, the driver and the ORM
# do the same work for a known code and an unknown one. An ORM object for a known code only,
# or no row at all for an unknown one, made a known code answer measurably slower. Built
# once: building it costs more than running it.
_CLINIC_OR_NULLS = (
    select(Clinic.id, Clinic.code, Clinic.name, Clinic.token_hash, Clinic.disabled_at)
    .select_from(select(literal_column("1").label("one")).subquery())
    .outerjoin(Clinic, Clinic.code == bindparam("code"))
)
# Its row as `_clinic_or_nulls` gives it: all None when no clinic has the code.
_ClinicOrNulls = tuple[int | None, str | None, str | None, bytes | None, dt.datetime | None]


def _clinic_or_nulls(session: Session, code: str) -> _ClinicOrNulls:
    clinic_id, clinic_code, name, token_hash, disabled_at = session.execute(
        _CLINIC_OR_NULLS, {"code": code}
    ).one()
    return clinic_id, clinic_code, name, token_hash, disabled_at


def authenticate_clinic(*, session: Session, token: str | None) -> ClinicIdentity:
    """The clinic a bearer token belongs to. Raises `QualificationError(CLIENT_UNAUTHENTICATED)`.

    An unknown code costs what a known one with a wrong secret costs (the same query, one
    row read, the presented secret hashed and compared with a digest), so the time of a
    refusal does not tell which codes exist."""
    if not token or "." not in token:
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, "no clinic token")
    code, secret = token.split(".", 1)
    clinic_id, clinic_code, name, token_hash, disabled_at = _clinic_or_nulls(session, code)
    same = hmac.compare_digest(token_hash or _UNKNOWN_CLINIC_DIGEST, _hash(secret))
    if not same or clinic_id is None or clinic_code is None or name is None:
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, "unknown clinic or wrong token")
    if disabled_at is not None:
        # The caller holds the right secret; only the server's log tells it from a wrong one.
        log.info("clinic %s is disabled: its token refused", code)
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, "unknown clinic or wrong token")
    return ClinicIdentity(clinic_id, clinic_code, name)


def register_device(
    *, session: Session, clinic_code: str, device_id: str, public_key: bytes, now: dt.datetime
) -> None:
    """Register a face-recognition reader (Ed25519 raw public key, 32 bytes) of a clinic."""
    Ed25519PublicKey.from_public_bytes(public_key)  # raises ValueError if malformed
    clinic = _clinic(session, clinic_code)
    if _device(session, clinic.id, device_id) is not None:
        raise ValueError(f"clinic {clinic_code} already has a device {device_id!r}")
    session.add(
        ClinicDevice(
            clinic_id=clinic.id, device_id=device_id, public_key=public_key, created_at=now
        )
    )


def _device(session: Session, clinic_id: int, device_id: str) -> ClinicDevice | None:
    return session.scalars(
        select(ClinicDevice).where(
            ClinicDevice.clinic_id == clinic_id, ClinicDevice.device_id == device_id
        )
    ).first()


def remove_device(*, session: Session, clinic_code: str, device_id: str) -> None:
    """Forget a reader device: face and visual checks it signs are refused from now on
    (`DEVICE_UNKNOWN`). Raises `ClinicNotFound`, `DeviceNotFound`."""
    clinic = _clinic(session, clinic_code)
    device = _device(session, clinic.id, device_id)
    if device is None:
        raise DeviceNotFound(clinic_code, device_id)
    session.delete(device)
    log.info("clinic %s: device %r removed", clinic_code, device_id)


def device_key(*, session: Session, clinic: ClinicIdentity, device_id: str) -> bytes:
    """The public key of one of the clinic's devices. Raises `DEVICE_UNKNOWN`."""
    key = session.scalars(
        select(ClinicDevice.public_key).where(
            ClinicDevice.clinic_id == clinic.id, ClinicDevice.device_id == device_id
        )
    ).first()
    if key is None:
        raise QualificationError(Code.DEVICE_UNKNOWN, f"device {device_id!r}")
    return key


class ClinicAuthenticator:
    """`authenticate_clinic` with a short memory: a token seen valid is trusted for `ttl_s`
    without a database round trip: a rotated token or a disabled clinic is refused by this
    authenticator within `ttl_s`, not at once."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl_s
        self._known: dict[bytes, tuple[ClinicIdentity, float]] = {}

    def remembered(self, token: str | None) -> ClinicIdentity | None:
        """The clinic of a token seen valid within `ttl_s`, without I/O; else None."""
        hit = self._known.get(_hash(token or ""))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def authenticate(self, token: str | None) -> ClinicIdentity:
        """The clinic of a token, from memory or the database. Raises like
        `authenticate_clinic`."""
        known = self.remembered(token)
        if known is not None:
            return known
        with self._sessions() as session:
            identity = authenticate_clinic(session=session, token=token)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[_hash(token or "")] = (identity, time.monotonic() + self._ttl)
        return identity
