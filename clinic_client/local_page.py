"""What the clinic's three local pages (the reader, the reception terminal, the portal) share
as web apps on this PC: the loopback host names, the response headers, and the one rule that
keeps another site from driving their API through the user's browser.

A page on 127.0.0.1 that can spend the card's PIN tries or show a patient's answer must not
be usable by any other origin: a foreign Host (DNS rebinding), a cross-site fetch
(`Sec-Fetch-Site`) or another `Origin` is refused before a route runs. Each app answers the
refusal in its own body; the rule is here once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import Request

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def foreign_request(
    request: Request, allowed_hosts: frozenset[str] = LOOPBACK_HOSTS, whose: str = "this PC's"
) -> str | None:
    """Why `request` does not come from the page's own origin, or None if it may run.

    The Host must be an allowed name or the address the server is bound to; under `/api/`
    a browser's cross-site or cross-origin request is refused too (a server-to-server POST,
    such as the reader's check-in, carries neither header)."""
    bound = (request.scope.get("server") or (None,))[0]
    if request.url.hostname not in allowed_hosts and request.url.hostname != bound:
        return f"host {request.url.hostname!r} is not {whose}"
    if not request.url.path.startswith("/api/"):
        return None
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request"
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return "a request from another origin"
    return None


__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "foreign_request"]
