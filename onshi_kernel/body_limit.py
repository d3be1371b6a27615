"""A limit on request bodies, for every onshi server: a body over the limit is refused
before it is read (declared by Content-Length) or as soon as it passes the limit (streamed),
so nobody can make a server buffer or parse more than it would ever accept."""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware. A declared body over `max_bytes` gets `refuse(request)` at once; a
    streamed one raises `HTTPException(413)` while the app reads it, which the app's own
    handler turns into its numbered error. Paths under `exempt` (an upload route that counts
    on its own, with a larger limit) pass untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        refuse: Callable[[Request], Response],
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(scope["path"].startswith(p) for p in self.exempt):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = self.refuse(Request(scope))
            response.headers["Connection"] = "close"  # the unread body stays behind
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # an HTTPException passes FastAPI's body parsing untouched, to the
                    # app's handler
                    raise HTTPException(413)
            return message

        await self.app(scope, counted, send)
