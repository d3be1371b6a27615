"""API credentials: how they look, how they are kept, how they are checked.

A credential is `<kind>_<public id>.<secret>`, e.g. `ins_3f9a0c1b2d4e.Q2x…`:

- `kind` is `ins` (an insurer's member API) or `net` (the network lookup the qualification
  server uses); a credential of one kind never opens the other's endpoints;
- the public id (12 hex characters) finds the stored row without revealing anything;
- the secret is 32 random bytes (base64url). Only SHA-256 of the secret is stored. A slow
  password hash is not needed: the secret has 256 bits of entropy, nothing to guess.

The secret is shown once, when the credential is issued. Checking compares the digests in
constant time, and does the same work when the public id is unknown.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PUBLIC_ID_BYTES = 6
SECRET_BYTES = 32


class CredentialKind(enum.StrEnum):
    """Which API a credential opens."""

    INSURER = "ins"
    NETWORK = "net"


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A freshly minted credential: `token` goes to its holder once, the rest is stored."""

    kind: CredentialKind
    public_id: str
    secret_digest: str
    token: str

    def __repr__(self) -> str:
        return f"IssuedCredential(kind={self.kind!s}, public_id={self.public_id!r})"


@dataclass(frozen=True, slots=True)
class PresentedCredential:
    """A credential as a client presented it, split into its parts."""

    kind: CredentialKind
    public_id: str
    secret: str

    def __repr__(self) -> str:
        return f"PresentedCredential(kind={self.kind!s}, public_id={self.public_id!r})"


def digest(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


# What a secret presented with an unknown public id is compared with: a digest made as a
# stored one is, of a secret nobody holds.
_UNKNOWN_ID_DIGEST = digest(secrets.token_urlsafe(SECRET_BYTES))


def mint(kind: CredentialKind) -> IssuedCredential:
    """A new random credential of `kind`."""
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedCredential(
        kind=kind,
        public_id=public_id,
        secret_digest=digest(secret),
        token=f"{kind.value}_{public_id}.{secret}",
    )


def parse(token: str) -> PresentedCredential:
    """Split a presented token; ValueError if it is not shaped like one."""
    prefix, _, rest = token.partition("_")
    public_id, _, secret = rest.partition(".")
    try:
        kind = CredentialKind(prefix)
    except ValueError:
        raise ValueError("not a registry credential") from None
    if len(public_id) != 2 * PUBLIC_ID_BYTES or not secret or not secret.isascii():
        raise ValueError("not a registry credential")
    return PresentedCredential(kind=kind, public_id=public_id, secret=secret)


def matches(presented: PresentedCredential, stored_digest: str | None) -> bool:
    """True if the presented secret is the one whose digest is stored.

    `stored_digest` is None when no credential has that public id; the comparison still
    runs, so timing does not tell a known id from an unknown one.
    """
    expected = stored_digest if stored_digest is not None else _UNKNOWN_ID_DIGEST
    same = hmac.compare_digest(digest(presented.secret), expected)
    return same and stored_digest is not None
