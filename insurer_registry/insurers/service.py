"""Registering insurers, issuing credentials, and recognising a caller by its credential."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from insurer_registry.errors import InsurerExists, InsurerNotFound
from insurer_registry.insurers import credentials
from insurer_registry.insurers.credentials import CredentialKind, IssuedCredential
from insurer_registry.members.audit import Actor
from insurer_registry.models import Credential, Insurer, utc_now
from onshi_kernel.numbers import InsurerKind, InsurerNumber

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InsurerInfo:
    """A registered insurer."""

    id: int
    number: InsurerNumber
    name: str
    kind: InsurerKind

    @classmethod
    def of(cls, row: Insurer) -> InsurerInfo:
        """The value of a stored insurer row."""
        return cls(
            id=row.id, number=InsurerNumber(row.number), name=row.name, kind=InsurerKind(row.kind)
        )


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated API client: an insurer, or a network client (insurer is None)."""

    kind: CredentialKind
    credential_id: str
    insurer: InsurerInfo | None

    def actor(self, request_id: str | None = None) -> Actor:
        """This caller as the author of a change."""
        return Actor(
            label=f"credential:{self.kind.value}_{self.credential_id}",
            insurer_id=self.insurer.id if self.insurer else None,
            request_id=request_id,
        )


def add_insurer(*, session: Session, number: InsurerNumber, name: str) -> InsurerInfo:
    """Register an insurer; its kind follows from its number."""
    if not name.strip():
        raise ValueError("an insurer needs a name")
    if session.scalar(select(Insurer.id).where(Insurer.number == number.digits)) is not None:
        raise InsurerExists(number.digits)
    row = Insurer(number=number.digits, name=name.strip(), kind=number.kind.value)
    session.add(row)
    session.flush()
    log.info("registered insurer %s (%s)", number.digits, number.kind.value)
    return InsurerInfo.of(row)


def get_insurer(*, session: Session, number: InsurerNumber) -> InsurerInfo:
    """The registered insurer with this number."""
    row = session.scalar(select(Insurer).where(Insurer.number == number.digits))
    if row is None:
        raise InsurerNotFound(number.digits)
    return InsurerInfo.of(row)


def list_insurers(*, session: Session) -> list[InsurerInfo]:
    """Every registered insurer, by number."""
    return [
        InsurerInfo.of(row) for row in session.scalars(select(Insurer).order_by(Insurer.number))
    ]


def issue_credential(
    *,
    session: Session,
    kind: CredentialKind,
    label: str,
    insurer: InsurerInfo | None = None,
) -> IssuedCredential:
    """A new credential; the returned token is the only copy of its secret."""
    if (kind is CredentialKind.INSURER) != (insurer is not None):
        raise ValueError("insurer credentials need an insurer; network credentials have none")
    issued = credentials.mint(kind)
    session.add(
        Credential(
            public_id=issued.public_id,
            kind=kind.value,
            insurer_id=insurer.id if insurer else None,
            label=label,
            secret_digest=issued.secret_digest,
        )
    )
    session.flush()
    log.info("issued %s credential %s", kind.value, issued.public_id)
    return issued


def revoke_credentials(*, session: Session, insurer: InsurerInfo) -> int:
    """Revoke every live credential of an insurer; returns how many."""
    result = session.execute(
        update(Credential)
        .where(Credential.insurer_id == insurer.id, Credential.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    count = int(getattr(result, "rowcount", 0))
    log.info("revoked %d credential(s) of insurer %s", count, insurer.number)
    return count
