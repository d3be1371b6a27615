"""What the clinic's three local pages (the reader, the reception terminal, the portal) share
as web apps on this PC: the loopback host names, the response headers, and the one rule that
keeps another site from driving their API through the user's browser.

A page on 127.0.0.1 that can spend the card's PIN tries or show a patient's answer must not
be usable by any other origin: a foreign Host (DNS rebinding), a cross-site fetch
(`Sec-Fetch-Site`) or another `Origin` is refused before a route runs. Each app answers the
refusal in its own body; the rule is here once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

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

    The pages have no login: being on this machine's loopback is the credential. Two ways
    around that go through the user's browser and are refused: another website calling the
    API (it could not read the answers, but could spend PIN tries, start lookups under the
    clinic's token or post check-ins), and DNS rebinding (another site's name pointed at
    127.0.0.1, which would make the API its own origin). So the Host must be an allowed
    name or the address the server is bound to, and under `/api/` a cross-site or
    cross-origin browser request is refused. Programs on this machine (the reader posting a
    check-in) send neither browser header and are let through; the page itself may be
    opened from a link or a bookmark."""
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


def guard_page(
    app: FastAPI,
    refuse: Callable[[str], Response],
    *,
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
    whose: str = "this PC's",
    no_store_under: str = "/api/",
) -> None:
    """Install the rule on `app`: a foreign request gets `refuse(why)` and never reaches a
    route; every answer gets the headers, and those under `no_store_under` are not cached."""

    @app.middleware("http")
    async def _guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        why = foreign_request(request, allowed_hosts, whose)
        response = await call_next(request) if why is None else refuse(why)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith(no_store_under):
            response.headers["Cache-Control"] = "no-store"
        return response


__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "foreign_request", "guard_page"]
