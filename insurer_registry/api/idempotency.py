"""Idempotent writes: a client-supplied request id (the `Idempotency-Key` header) makes a
retried write return the first answer instead of doing the work twice.

Each key is scoped to the insurer and stored with a fingerprint of the request (method,
path, canonical body; keyed, since a body holds a My Number: `digests`) and the answer. The
same key with the same request returns the stored answer; with a different request it is
`IdempotencyKeyReused`. The key is claimed (inserted)
before the work, in the work's transaction: a concurrent duplicate waits on the unique
index and then reads the stored answer. A failed request stores nothing, so its retry runs
again (and fails the same way if nothing changed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.digests import keyed_digest
from insurer_registry.errors import IdempotencyKeyRequired, IdempotencyKeyReused
from insurer_registry.models import IdempotencyRecord

KEY_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An HTTP answer as stored with its key: the status and the JSON body text."""

    status_code: int
    body: str


def validate_key(key: str | None) -> str:
    """The key, if it is 1–200 printable ASCII characters."""
    if key is None or not key:
        raise IdempotencyKeyRequired("writes need an Idempotency-Key header (a request id)")
    if len(key) > KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyRequired(
            f"Idempotency-Key must be 1–{KEY_MAX_LENGTH} printable ASCII characters"
        )
    return key


def fingerprint(method: str, path: str, payload: object, *, pseudonym_key: bytes) -> str:
    """A keyed digest of the request that a key must keep meaning."""
    canonical = json.dumps(
        [method.upper(), path, payload], sort_keys=True, ensure_ascii=False, default=str
    )
    return keyed_digest(pseudonym_key, "idempotency", canonical.encode())


def _stored(session: Session, insurer_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.insurer_id == insurer_id, IdempotencyRecord.key == key
        )
    )


def idempotent_write(
    *,
    sessions: sessionmaker[Session],
    insurer_id: int,
    key: str,
    request_hash: str,
    work: Callable[[Session], StoredAnswer],
) -> StoredAnswer:
    """Run `work` once per (insurer, key); later calls with the same request get its answer."""
    attempts = 2
    for attempt in range(attempts):
        try:
            with transaction(sessions) as session:
                stored = _stored(session, insurer_id, key)
                if stored is not None:
                    if stored.request_hash != request_hash:
                        raise IdempotencyKeyReused(key)
                    return StoredAnswer(stored.status_code, stored.response_body)
                claim = IdempotencyRecord(
                    insurer_id=insurer_id,
                    key=key,
                    request_hash=request_hash,
                    status_code=0,
                    response_body="",
                )
                session.add(claim)
                session.flush()
                answer = work(session)
                claim.status_code = answer.status_code
                claim.response_body = answer.body
                return answer
        except IntegrityError:
            # A concurrent request claimed the key (or raced the work's own unique rows):
            # look again, which finds its stored answer.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
