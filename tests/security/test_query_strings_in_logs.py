"""A query string never reaches a log line as it was sent: a client that puts a credential
in the URL (`?access_token=…`, by mistake or as a probe) must not leave it in the logs.

The registry is served the way `insurer-registry serve` serves it: the app made first, then
uvicorn with its own logging set-up, access log on at INFO. Every line written is read.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from insurer_registry.api.access_log_queries import without_query
from insurer_registry.api.app import create_app
from insurer_registry.settings import Settings
from tests.support.registry import RegisteredInsurer

pytestmark = pytest.mark.db

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class Lines(logging.Handler):
    """Every record, formatted by the formatter of the handler it stands beside."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def uvicorn_logging_restored() -> Iterator[None]:
    """uvicorn's set-up configures its loggers for the whole process: put them back."""
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.filters[:])
        for name in UVICORN_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        for name, (handlers, level, propagate, filters) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
            logger.filters[:] = filters


@contextmanager
def served_registry(settings: Settings, engine: Engine) -> Iterator[tuple[str, list[str]]]:
    """The registry on a free local port as `insurer-registry serve` runs it, and the list
    that every log line of the server process fills."""
    app = create_app(settings, engine=engine)
    with uvicorn_logging_restored():
        config = uvicorn.Config(app, log_level="info")  # uvicorn.run's logging, access log on
        server = uvicorn.Server(config)
        access = logging.getLogger("uvicorn.access")
        access_lines = Lines(access.handlers[0].formatter if access.handlers else None)
        other_lines = Lines(logging.Formatter("%(name)s %(message)s"))
        # The test's own client logs the URLs it asks for: not the server's lines.
        other_lines.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
        access.addHandler(access_lines)
        for name in ("uvicorn", ""):
            logging.getLogger(name).addHandler(other_lines)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "the registry did not start"
                time.sleep(0.02)
            port = sock.getsockname()[1]
            lines: list[str] = []
            yield f"http://127.0.0.1:{port}", lines
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            for name in ("uvicorn", ""):
                logging.getLogger(name).removeHandler(other_lines)
            lines += access_lines.lines + other_lines.lines


def test_the_registry_logs_no_query_string_as_sent(
    settings: Settings, engine: Engine, insurer_a: RegisteredInsurer
) -> None:
    secret = insurer_a.token.split(".", 1)[1]
    sent = [
        ("GET", f"/healthz?token=SECRET-1-{secret}"),
        ("GET", f"/v1/members/1?access_token={insurer_a.token}"),
        ("GET", f"/v1/members/1?{insurer_a.token}"),  # a bare query: the name is the secret
        ("POST", f"/v1/members/search?a=1&access_token={insurer_a.token}&b=2"),
        ("POST", f"/network/v1/qualifications/by-person?token=SECRET-2-{secret}"),
    ]
    with served_registry(settings, engine) as (url, lines), httpx.Client(base_url=url) as http:
        for method, target in sent:
            http.request(method, target, json={})
    assert secret not in "\n".join(lines)
    assert "SECRET" not in "\n".join(lines)
    for method, target in sent:  # each request is still in the access log, without its query
        path = target.split("?", 1)[0]
        assert any(f'"{method} {path}?' in line for line in lines), (method, path, lines)


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/v1/members/1", "/v1/members/1"),
        ("/v1/members/1?access_token=x", "/v1/members/1?[query redacted]"),
        ("/v1/members/1?x", "/v1/members/1?[query redacted]"),
        ("/v1/members/1?", "/v1/members/1?[query redacted]"),
        ("/a%3Fb?c=d", "/a%3Fb?[query redacted]"),  # uvicorn quotes a path's own '?'
    ],
)
def test_a_request_target_is_logged_without_its_query(target: str, logged: str) -> None:
    assert without_query(target) == logged
