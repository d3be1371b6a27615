"""Bounds on what a client can make an onshi server hold before its request reaches the app:
the size of a request's header block, its number of header fields, and how long a client may
take to send its header block or stay silent in the middle of its body.

Every onshi server (the qualification server, the insurer registry, the front desk's web app)
runs uvicorn with the httptools parser, which bounds none of these: a 64 MB header was read
and held whole, and a client that sent half a header and then nothing kept its connection,
and what it had sent, for ever. `BoundedHttpToolsProtocol` is uvicorn's own httptools protocol
with these bounds added (the parser, the app's task and the keep-alive timeout are uvicorn's
own). Each server hands it to uvicorn as `http=`; `HTTP_PROTOCOL` is its import path, for
`--workers`, whose processes import it. How large a body may be is each app's own limit (the
body-size middleware); these bounds are the same for every server.

A request is refused with 431 (too large a header block, too many fields) or 408 (too slow)
and the connection closed, when no other answer is being sent on it; otherwise the
connection is closed without one. A connection that never sent a byte is closed without an
answer (a browser that opened a socket in advance would show it as its page).
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

MAX_HEADER_BYTES = 16 * 1024
"""The request line and header fields together (or a chunked body's trailers), in bytes.
Requests to these servers carry a few hundred bytes of header (a bearer token, a content
type); the front desk's browser adds cookies and client hints, well under 8 KiB. 16 KiB is
h11's and Node's default limit; nothing larger is buffered."""

MAX_HEADER_FIELDS = 100
"""Header fields in one request, trailers included. A browser sends about 20; Apache's
default limit is 100. Without it, 16 KiB of four-byte fields would be 4,000 of them, each
held as a pair of Python objects."""

HEADER_TIMEOUT_S = 10.0
"""From a connection's opening (its first request) or a request's first byte (a later one on
a kept-alive connection) to the end of its header block. A client sends its header in one
write, there in one round trip even on a slow clinic line; a client that trickles it a byte
at a time (slowloris), which no timeout between bytes would catch, is cut off after 10 s."""

BODY_READ_TIMEOUT_S = 30.0
"""The longest silence in the middle of a body: every byte that arrives starts it again, so a
large upload on a slow line goes on while it moves, and a client that stops sending no longer
holds the app's task that waits for the rest. (nginx's client_body_timeout is the same idea,
60 s.) While the server itself stops reading (the app has not yet taken what came), the
clock waits."""

HTTP_PROTOCOL = "onshi_kernel.http_limits:BoundedHttpToolsProtocol"
"""`BoundedHttpToolsProtocol`'s import path, for uvicorn's `http=` with `--workers`."""


class _TooManyHeaderFields(Exception):
    """Raised from the parser's callback to stop it; the protocol answers 431."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header block's size and field count bounded and
    deadlines on reading it and the body. The limits are class attributes: a subclass (a test
    that cannot wait 10 s) changes them.

    The parser keeps a header field until it is complete, so the bytes are counted as they
    come, before the parser sees them: a read that would take the open header block past the
    limit is fed only as far as the limit, and refused unless the block ended there. A block
    that opens in the middle of a read (a request pipelined behind another in the same read)
    is counted from the next read on, so it may pass the limit by what is left of that read
    (at most 256 KiB, the event loop's read size)."""

    max_header_bytes: ClassVar[int] = MAX_HEADER_BYTES
    max_header_fields: ClassVar[int] = MAX_HEADER_FIELDS
    header_timeout_s: ClassVar[float] = HEADER_TIMEOUT_S
    body_read_timeout_s: ClassVar[float] = BODY_READ_TIMEOUT_S

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # What the open header block (a request's, or a chunked body's trailers) may still
        # take, in bytes; None while none is open (a body is coming).
        self._header_room: int | None = self.max_header_bytes
        # When the request whose header block is open began (loop time); None otherwise.
        self._header_started: float | None = None
        self._message_begun = False  # a byte of the current request has come
        self._in_body = False  # its header block is complete and its body is not
        self._too_many_fields = False
        self._last_read = 0.0
        self._read_timer: TimerHandle | None = None

    # Connection

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        # The first request's clock runs from the opening: a connection that sends nothing
        # is cut off as one that sends too slowly.
        self._header_started = self.loop.time()
        self._arm(self._header_started + self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._last_read = self.loop.time()
        while True:
            room = self._header_room
            if room is None or len(data) <= room:
                if room is not None:
                    self._header_room = room - len(data)
                if not self._feed(data):
                    return
                break
            # More than the open header block may still take: feed what it may take, and the
            # rest only if the block ended within that (the rest is then body, or the next
            # request, counted afresh).
            self._header_room = 0
            if not self._feed(data[:room]):
                return
            if self._header_room == 0:  # still the same block, and full
                self._abort(431, "Request header fields too large.")
                return
            data = data[room:]
        if self._read_timer is None:
            if self._in_body:
                self._arm(self._last_read + self.body_read_timeout_s)
            elif self._header_started is not None:
                self._arm(self._header_started + self.header_timeout_s)

    def _feed(self, data: bytes) -> bool:
        """Parse `data`; False when the connection is done with the parser (the request was
        refused, or the connection upgraded): the same handling as uvicorn's own."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._too_many_fields:
                self._abort(431, "Too many request header fields.")
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                # the connection is another protocol's now: no deadline of this one may close it
                self._disarm()
                self._in_body = False
                self._header_started = self._header_room = None
                self.handle_websocket_upgrade()
            else:
                # served as plain HTTP, the next request as bounded as any (the parser has
                # completed this one)
                self._unsupported_upgrade_warning()
            return False
        return True

    # Parser callbacks, each run for every request: a direct call of uvicorn's own costs less
    # than super()'s (a microsecond a request, in all)

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._message_begun = True
        if self._header_started is None:  # a later request: its clock starts at its first byte
            self._header_started = self._last_read

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.max_header_fields:
            self._too_many_fields = True
            raise _TooManyHeaderFields
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        HttpToolsProtocol.on_headers_complete(self)
        self._header_room = self._header_started = None
        self._in_body = True  # until on_message_complete, at once for a request without a body
        if self._read_timer is not None:
            self._disarm()

    def on_chunk_header(self) -> None:
        # The last chunk's header is followed by the trailers, which the parser gathers as
        # header fields: each chunk header opens a header block that the chunk's data closes.
        self._header_room = self.max_header_bytes

    def on_chunk_complete(self) -> None:
        self._header_room = None

    def on_body(self, body: bytes) -> None:
        self._header_room = None  # a chunk's data: the block its header opened is not trailers
        HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self._in_body = self._message_begun = False
        self._header_room = self.max_header_bytes  # the next request starts with the next byte
        if self._read_timer is not None:
            self._disarm()

    # Deadlines

    def _arm(self, when: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_at(when, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:
            # uvicorn stopped reading (the app has not taken what came, or a pipelined
            # request waits its turn): not the client's silence, so its clock starts again
            if self._header_started is not None:
                self._header_started = now
            self._arm(now + (self.body_read_timeout_s if self._in_body else self.header_timeout_s))
            return
        if self._in_body:
            deadline = self._last_read + self.body_read_timeout_s
            if now < deadline:
                self._arm(deadline)
            else:
                self._abort(408, "Request body not received in time.")
        elif self._header_started is not None:
            deadline = self._header_started + self.header_timeout_s
            if now < deadline:
                self._arm(deadline)
            elif not self._message_begun:
                self.transport.close()  # not a byte of a request: nothing to answer
            else:
                self._abort(408, "Request header not received in time.")

    # Refusal

    def _abort(self, status: int, reason: str) -> None:
        """Answer `status` with `reason` and close the connection; when another answer is
        being sent on it, close it without one."""
        cycle: RequestResponseCycle | None = self.cycle
        if self._in_body:
            # this request's app may be waiting for the rest of the body (or have answered)
            assert cycle is not None
            answerable = not cycle.response_started and not self.pipeline
            if answerable:
                # as if the client had gone: receive() says http.disconnect, send() writes
                # nothing
                cycle.disconnected = True
                cycle.message_event.set()
        else:
            answerable = cycle is None or cycle.response_complete
        self.logger.warning(reason)
        if answerable:
            body = reason.encode("ascii")
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
        self.transport.close()
