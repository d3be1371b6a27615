"""The `Authorization` header, read by one rule in every onshi server.

A request carries exactly one `Authorization` header, `Bearer <token>`: the scheme compared
without regard to case (RFC 7235 §2.1), one space, and a token of RFC 6750 §2.1's
characters (token68). A raw token, another scheme, an empty token, extra spaces, a second
token or a second header are all refused alike: a server that took the first of two headers
would trust what a proxy in front of it may never have looked at, and one that let a raw
token through would accept what no client of ours sends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SCHEME = "bearer"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class MalformedAuthorization(ValueError):
    """The request's Authorization header is missing or breaks the rule. The message says
    which way, never what was sent."""


def bearer_token(values: Sequence[str]) -> str:
    """The token of a request's `Authorization` headers, every one of them as received
    (Starlette's `request.headers.getlist("authorization")`). Raises
    `MalformedAuthorization`."""
    if not values:
        raise MalformedAuthorization("no Authorization header")
    if len(values) > 1:
        raise MalformedAuthorization("more than one Authorization header")
    scheme, space, token = values[0].partition(" ")
    if not space or scheme.lower() != SCHEME:
        raise MalformedAuthorization("the Authorization header is not `Bearer <token>`")
    if _TOKEN68.fullmatch(token) is None:
        raise MalformedAuthorization("the Bearer token is empty or not one token68")
    return token
