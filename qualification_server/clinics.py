"""Clinics and their registered reader devices.

A clinic authenticates with a bearer token `<医療機関コード>.<secret>`, shown once when the
clinic is registered; the server keeps SHA-256 of the secret and compares in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from qualification_server.errors import Code, QualificationError
from qualification_server.models import Clinic, ClinicDevice

CLINIC_CODE_LENGTH = 10


@dataclass(frozen=True, slots=True)
class ClinicIdentity:
    """An authenticated clinic."""

    id: int
    code: str
    name: str


def validate_clinic_code(code: str) -> str:
    """医療機関コード: 10 digits (都道府県 2 + 点数表 1 + 7). Raises ValueError."""
    if len(code) != CLINIC_CODE_LENGTH or not (code.isascii() and code.isdigit()):
        raise ValueError("a medical institution code is 10 digits")
    if not 1 <= int(code[:2]) <= 47:
        raise ValueError("a medical institution code starts with a prefecture number 01-47")
    return code


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def register_clinic(*, session: Session, code: str, name: str, now: dt.datetime) -> str:
    """Register a clinic; return its token (shown once, never stored)."""
    validate_clinic_code(code)
    if session.scalars(select(Clinic).where(Clinic.code == code)).first() is not None:
        raise ValueError(f"clinic {code} is already registered")
    secret = secrets.token_urlsafe(32)
    session.add(Clinic(code=code, name=name, token_hash=_hash(secret), created_at=now))
    return f"{code}.{secret}"


def authenticate_clinic(*, session: Session, token: str | None) -> ClinicIdentity:
    """The clinic a bearer token belongs to. Raises `QualificationError(CLIENT_UNAUTHENTICATED)`."""
    if not token or "." not in token:
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, "no clinic token")
    code, secret = token.split(".", 1)
    clinic = session.scalars(select(Clinic).where(Clinic.code == code)).first()
    # Compare even when the clinic is unknown, so timing does not tell which codes exist.
    expected = clinic.token_hash if clinic else bytes(32)
    if not hmac.compare_digest(expected, _hash(secret)) or clinic is None:
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, "unknown clinic or wrong token")
    return ClinicIdentity(clinic.id, clinic.code, clinic.name)


def register_device(
    *, session: Session, clinic_code: str, device_id: str, public_key: bytes, now: dt.datetime
) -> None:
    """Register a face-recognition reader (Ed25519 raw public key, 32 bytes) of a clinic."""
    Ed25519PublicKey.from_public_bytes(public_key)  # raises ValueError if malformed
    clinic = session.scalars(select(Clinic).where(Clinic.code == clinic_code)).first()
    if clinic is None:
        raise ValueError(f"no clinic {clinic_code}")
    session.add(
        ClinicDevice(
            clinic_id=clinic.id, device_id=device_id, public_key=public_key, created_at=now
        )
    )


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
    without a database round trip (a revoked token stops working within `ttl_s`)."""

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
