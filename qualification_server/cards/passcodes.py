"""目視確認用パスコード (OQS-IF-049/050): a short-lived, single-use passcode the server issues
to a clinic; a visual check at that clinic must carry one (`check.py`).

A passcode is 8 random digits, staff can read it off the screen and type it. The server
keeps only its HMAC under the challenge key (every instance holds it), with the clinic it
was issued to and its lifetime; answering a visual check marks it used, by the database's
clock, in one UPDATE whose conditions make of two concurrent uses one. A passcode that does
not answer is told apart: missing Q2010, never issued Q2011, expired Q2012, used Q2013,
another clinic's Q2014. Rows are removed a day after they expire (`prune_visual_passcodes`):
until then a reused one is told from an unknown one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from onshi_kernel.japan_time import timestamp
from qualification_server.contract.lockouts import (
    VisualPasscodeAnswer,
    VisualPasscodeBody,
    VisualPasscodeHeader,
    VisualPasscodeRequest,
)
from qualification_server.contract.presence import PASSCODE_DIGITS
from qualification_server.db import database_now, transaction, upsert_insert
from qualification_server.errors import Code, QualificationError
from qualification_server.models import VisualPasscode

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qualification_server.api.dependencies import Dependencies
    from qualification_server.clinics.service import ClinicIdentity

_CONTEXT = b"onshi-visual-passcode/1\x00"
# How long a passcode's row outlives it, so that a reuse is answered as one.
KEPT_AFTER_EXPIRY = dt.timedelta(days=1)
# Draws before giving up: live passcodes are a tiny part of 10^8, a second draw is rare.
_DRAWS = 8


def passcode_digest(key: bytes, passcode: str) -> bytes:
    """What the server keeps of a passcode."""
    return hmac.new(key, _CONTEXT + passcode.encode("ascii"), hashlib.sha256).digest()


def issue_passcode(
    deps: Dependencies, *, clinic: ClinicIdentity, request: VisualPasscodeRequest
) -> VisualPasscodeAnswer:
    """A fresh passcode for one visual check at `clinic`, valid `visual_passcode_ttl_s`."""
    now = deps.clock()
    expires_at = now + dt.timedelta(seconds=deps.settings.visual_passcode_ttl_s)
    key = deps.settings.challenge_key_bytes
    for _ in range(_DRAWS):
        passcode = f"{secrets.randbelow(10**PASSCODE_DIGITS):0{PASSCODE_DIGITS}d}"
        with transaction(deps.sessions) as session:
            insert = upsert_insert(session)
            kept = session.execute(
                insert(VisualPasscode)
                .values(
                    digest=passcode_digest(key, passcode),
                    clinic_code=clinic.code,
                    issued_at=now,
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=["digest"])
                .returning(VisualPasscode.digest)
            ).scalar_one_or_none()
        if kept is not None:
            return VisualPasscodeAnswer(
                MessageHeader=VisualPasscodeHeader(
                    ProcessExecutionTime=timestamp(now),
                    MedicalInstitutionCode=clinic.code,
                    ArbitraryFileIdentifier=request.arbitrary_file_identifier,
                ),
                MessageBody=VisualPasscodeBody(
                    VisualConfirmationPasscode=passcode,
                    VisualConfirmationPasscodeExpirationTime=timestamp(expires_at),
                ),
            )
    raise RuntimeError(f"no free passcode in {_DRAWS} draws")


def spend_passcode(
    session: Session,
    *,
    key: bytes,
    clinic_code: str,
    passcode: str | None,
    challenge_id: str,
    now: dt.datetime,
) -> None:
    """Mark the passcode used by the check of `challenge_id`, in the caller's transaction;
    raise its numbered refusal when it cannot answer this clinic's visual check."""
    if passcode is None:
        raise QualificationError(Code.PASSCODE_MISSING)
    digest = passcode_digest(key, passcode)
    alive = database_now(session.get_bind().dialect.name)
    spent = session.execute(
        update(VisualPasscode)
        .where(
            VisualPasscode.digest == digest,
            VisualPasscode.clinic_code == clinic_code,
            VisualPasscode.used_at.is_(None),
            VisualPasscode.expires_at > alive,
        )
        .values(used_at=now, used_by_challenge=challenge_id)
        .returning(VisualPasscode.digest)
    ).scalar_one_or_none()
    if spent is not None:
        return
    found = session.execute(
        select(VisualPasscode.clinic_code, VisualPasscode.used_at).where(
            VisualPasscode.digest == digest
        )
    ).one_or_none()
    if found is None:
        raise QualificationError(Code.PASSCODE_UNKNOWN)
    if found.clinic_code != clinic_code:
        raise QualificationError(Code.PASSCODE_FOREIGN)
    if found.used_at is not None:
        raise QualificationError(Code.PASSCODE_REUSED)
    raise QualificationError(Code.PASSCODE_EXPIRED, "expired by the database's clock")


def prune_visual_passcodes(session: Session) -> int:
    """Forget passcodes that expired more than `KEPT_AFTER_EXPIRY` ago (database clock)."""
    before = database_now(session.get_bind().dialect.name, -int(KEPT_AFTER_EXPIRY.total_seconds()))
    result = session.execute(delete(VisualPasscode).where(VisualPasscode.expires_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
