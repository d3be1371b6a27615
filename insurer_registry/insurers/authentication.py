"""Recognising a caller by its credential, with the same work whether its id exists or not.

For any well-formed credential `authenticate` reads one row, the stored credential's or a
row of NULLs when no credential has that public id, and hashes and compares the presented
secret either way (`credentials.matches`). An ORM object made for a known id only, or no
row at all for an unknown one, made a known id answer measurably slower, and so told which
ids exist (`bench/auth_timing.py` measures both paths).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, literal_column, select
from sqlalchemy.orm import Session

from insurer_registry.errors import AuthenticationFailed
from insurer_registry.insurers import credentials
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import Caller, InsurerInfo
from insurer_registry.models import Credential, Insurer

# The stored credential of :public_id as one row of plain columns, or one row of NULLs when
# there is none (an outer join from a one-row select). Built once: building it costs more
# than running it.
_STORED_OR_NULLS = (
    select(
        Credential.public_id,
        Credential.kind,
        Credential.insurer_id,
        Credential.secret_digest,
        Credential.revoked_at,
    )
    .select_from(select(literal_column("1").label("one")).subquery())
    .outerjoin(Credential, Credential.public_id == bindparam("public_id"))
)
# Its row as `_stored_or_nulls` gives it: all None when no credential has the id.
_StoredOrNulls = tuple[str | None, str | None, int | None, str | None, datetime | None]


def _stored_or_nulls(session: Session, public_id: str) -> _StoredOrNulls:
    stored_id, kind, insurer_id, secret_digest, revoked_at = session.execute(
        _STORED_OR_NULLS, {"public_id": public_id}
    ).one()
    return stored_id, kind, insurer_id, secret_digest, revoked_at


def authenticate(*, session: Session, token: str, kind: CredentialKind) -> Caller:
    """The caller a bearer token belongs to; `AuthenticationFailed` otherwise."""
    try:
        presented = credentials.parse(token)
    except ValueError:
        raise AuthenticationFailed("malformed credential") from None
    public_id, stored_kind, insurer_id, secret_digest, revoked_at = _stored_or_nulls(
        session, presented.public_id
    )
    if not credentials.matches(presented, secret_digest) or public_id is None:
        raise AuthenticationFailed("unknown credential")
    # Past this point the caller holds the secret: what follows tells it nothing new.
    if revoked_at is not None:
        raise AuthenticationFailed("revoked credential")
    if presented.kind is not kind or stored_kind != kind.value:
        raise AuthenticationFailed(f"this endpoint needs a {kind.value} credential")
    insurer = session.get(Insurer, insurer_id) if insurer_id is not None else None
    return Caller(
        kind=kind,
        credential_id=public_id,
        insurer=InsurerInfo.of(insurer) if insurer is not None else None,
    )
