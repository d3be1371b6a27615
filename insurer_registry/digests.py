"""Digests the registry stores: keyed, so that none can be brute-forced back to a My Number.

A request body or an import file holds My Numbers; an unkeyed SHA-256 of it, next to the
member row in the same database, gives the number back by trying its 10¹¹ candidates. Each
stored digest is therefore an HMAC-SHA-256 under a key derived from the pseudonym key, a
secret kept outside the database (`ONSHI_PSEUDONYM_KEY`), with a purpose label so that the
digests of two purposes never compare equal.
"""

from __future__ import annotations

import hashlib
import hmac

_DERIVATION_LABEL = b"onshi-registry-digest/1"


def keyed_digest(pseudonym_key: bytes, purpose: str, data: bytes) -> str:
    """HMAC-SHA-256 of `data` for `purpose`, hex, under a key derived from the pseudonym key."""
    key = hmac.new(pseudonym_key, _DERIVATION_LABEL, hashlib.sha256).digest()
    return hmac.new(key, purpose.encode("ascii") + b"\0" + data, hashlib.sha256).hexdigest()
