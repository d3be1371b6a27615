"""What a client may make a server hold before its request reaches the app, on each of the
servers (the qualification server, the insurer registry, and the front desk's two web apps:
the reception terminal and the patient-facing reader page, which takes the PIN):
a header block of at most 16 KiB and 100 fields, sent within 10 s; a body that does not go
silent for 30 s. Past a bound the request is refused (431, 408) and the connection closed.

Each server's app runs in a real uvicorn on 127.0.0.1 with the protocol its command uses,
its deadlines shortened to seconds (a subclass); the requests are raw bytes on real sockets,
so a test can stop half-way through a header. The last tests start each server's real
command and measure the memory a 32 MB header costs it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine

from clinic_client.api import QualificationClient
from clinic_client.reader import FrontDeskReader
from clinic_client.reader_web.app import create_reader_app
from clinic_client.web.app import create_clinic_app
from insurer_registry.api.app import create_app as create_registry_app
from insurer_registry.settings import Settings as RegistrySettings
from onshi_kernel.http_limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    BoundedHttpToolsProtocol,
)
from qualification_server.api.app import build_dependencies
from qualification_server.api.app import create_app as create_server_app
from qualification_server.settings import Settings as ServerSettings
from tests.support.ports import free_port

HEADER_TIMEOUT_S = 1.0
BODY_READ_TIMEOUT_S = 1.0
# How much later than its bound a server may cut a client off, on a busy two-core machine
SLACK_S = 4.0


class QuickBounds(BoundedHttpToolsProtocol):
    """The servers' protocol with deadlines a test can wait for."""

    header_timeout_s = HEADER_TIMEOUT_S
    body_read_timeout_s = BODY_READ_TIMEOUT_S


class SteadyBodyBounds(BoundedHttpToolsProtocol):
    """A body read timeout well above the gaps of a body sent piece by piece."""

    body_read_timeout_s = 3.0


class Served:
    """An app in a real uvicorn in a thread, on a port bound here and handed over."""

    def __init__(self, app: Any, protocol: type[BoundedHttpToolsProtocol], get: str, post: str):
        self.get, self.post = get, post
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        # keep-alive far above the deadlines, so a test that waits between two requests
        # does not run into it
        config = uvicorn.Config(app, http=protocol, log_level="warning", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def request(
        self, path: str, *, headers: str = "", method: str = "GET", close: bool = True
    ) -> bytes:
        """A request's header block; with `close`, the server closes after answering."""
        if close:
            headers = f"Connection: close\r\n{headers}"
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{headers}\r\n"
        return head.encode("latin-1")

    def wait_for_no_connections(self) -> None:
        """The server holds no connection any more (what a closed one held is freed)."""
        deadline = time.monotonic() + SLACK_S
        while self.server.server_state.connections:
            assert time.monotonic() < deadline, "the server still holds a connection"
            time.sleep(0.05)


def _qualification_app(tmp: Path) -> Any:
    settings = ServerSettings(
        database_url=f"sqlite:///{tmp}/server.db", registry_database_url=f"sqlite:///{tmp}/r.db"
    )
    return create_server_app(build_dependencies(settings), seal_interval_s=None)


def _registry_app(tmp: Path) -> Any:
    url = f"sqlite:///{tmp}/registry.db"
    return create_registry_app(RegistrySettings(database_url=url), engine=create_engine(url))


def _reception_app(tmp: Path) -> Any:
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    return create_clinic_app(client=client)


def _reader_app(tmp: Path) -> Any:
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    return create_reader_app(
        reader=FrontDeskReader("no such reader"), client=client, server_url="http://127.0.0.1:9"
    )


# name: (the app, a GET it answers 200, a POST whose body it reads before answering)
APPS: dict[str, tuple[Callable[[Path], Any], str, str]] = {
    "qualification-server": (_qualification_app, "/healthz", "/v1/eligibility/card"),
    "insurer-registry": (_registry_app, "/healthz", "/v1/members"),
    "reception": (_reception_app, "/", "/api/lookup"),
    "reader-page": (_reader_app, "/", "/api/pin"),
}


@pytest.fixture(scope="module", params=list(APPS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    make, get, post = APPS[request.param]
    server = Served(make(tmp_path_factory.mktemp(request.param)), QuickBounds, get, post)
    yield server
    server.stop()


@dataclass
class Answer:
    raw: bytes  # everything the server sent until it closed (or until the wait ended)
    closed: bool  # the server closed the connection (or reset it)
    at: float  # when the wait ended (time.monotonic())

    @property
    def status(self) -> int | None:
        if not self.raw.startswith(b"HTTP/1.1 "):
            return None
        return int(self.raw[9:12])


def read_until_closed(sock: socket.socket, wait_s: float) -> Answer:
    """All the server sends until it closes the connection, waiting at most `wait_s`."""
    raw = b""
    sock.settimeout(wait_s)
    try:
        while chunk := sock.recv(65536):
            raw += chunk
        closed = True
    except TimeoutError:
        closed = False
    except ConnectionResetError:
        closed = True
    return Answer(raw, closed, time.monotonic())


def send_all_it_takes(sock: socket.socket, data: bytes) -> None:
    """Send `data`, unless the server closes the connection first (it refused the request)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def status_of_one(served: Served, request: bytes) -> int | None:
    with served.connect() as sock:
        send_all_it_takes(sock, request)
        return read_until_closed(sock, 10).status


# Sizes


def test_a_one_megabyte_header_is_refused_and_its_connection_freed(served: Served) -> None:
    with served.connect() as sock:
        send_all_it_takes(sock, served.request(served.get, headers=f"X-Big: {'a' * 2**20}\r\n"))
        answer = read_until_closed(sock, SLACK_S)
    assert answer.closed
    # the 431 is sent; a reset that overtakes it (the client was still sending) loses it
    assert answer.status == 431 or answer.raw == b""
    served.wait_for_no_connections()


def test_a_header_block_just_over_the_limit_is_refused_with_431(served: Served) -> None:
    padding = "a" * (MAX_HEADER_BYTES + 1 - len(served.request(served.get, headers="X-Pad: \r\n")))
    request = served.request(served.get, headers=f"X-Pad: {padding}\r\n")
    assert len(request) == MAX_HEADER_BYTES + 1
    assert status_of_one(served, request) == 431


def test_a_header_block_at_the_limit_is_answered(served: Served) -> None:
    padding = "a" * (MAX_HEADER_BYTES - len(served.request(served.get, headers="X-Pad: \r\n")))
    request = served.request(served.get, headers=f"X-Pad: {padding}\r\n")
    assert len(request) == MAX_HEADER_BYTES
    assert status_of_one(served, request) == 200


def test_an_8_KiB_cookie_is_answered(served: Served) -> None:
    cookie = "; ".join(f"c{i}={'v' * 60}" for i in range(128))[: 8 * 1024]
    assert status_of_one(served, served.request(served.get, headers=f"Cookie: {cookie}\r\n")) == 200


def test_a_header_sent_in_pieces_is_answered(served: Served) -> None:
    request = served.request(served.get, headers=f"X-Pad: {'a' * 12_000}\r\n")
    with served.connect() as sock:
        for start in range(0, len(request), 4000):
            sock.sendall(request[start : start + 4000])
            time.sleep(0.05)
        assert read_until_closed(sock, 10).status == 200


def test_more_header_fields_than_the_limit_are_refused_with_431(served: Served) -> None:
    # Host and Connection are two of them
    fields = "".join(f"X-F{i}: v\r\n" for i in range(MAX_HEADER_FIELDS - 1))
    assert status_of_one(served, served.request(served.get, headers=fields)) == 431


def test_as_many_header_fields_as_the_limit_are_answered(served: Served) -> None:
    fields = "".join(f"X-F{i}: v\r\n" for i in range(MAX_HEADER_FIELDS - 2))
    assert status_of_one(served, served.request(served.get, headers=fields)) == 200


def test_a_request_after_an_upgrade_the_server_does_not_speak_is_bounded_as_any(
    served: Served,
) -> None:
    upgrade = "Connection: upgrade\r\nUpgrade: h2c\r\n"  # answered as plain HTTP/1.1
    with served.connect() as sock:
        sock.sendall(served.request(served.get, headers=upgrade, close=False))
        first = http.client.HTTPResponse(sock)
        first.begin()
        first.read()
        send_all_it_takes(sock, served.request(served.get, headers=f"X-Big: {'a' * 2**20}\r\n"))
        answer = read_until_closed(sock, SLACK_S)
    assert first.status == 200
    assert answer.closed
    assert answer.status == 431 or answer.raw == b""


def test_a_large_body_in_the_same_write_as_its_header_is_not_taken_for_header(
    served: Served,
) -> None:
    # 200 kB: under the body limit of every server but the reader page's (16 KiB: a PIN and
    # four answers), which answers 413 itself
    body = b"[" + b"0," * 100_000 + b"0]"
    head = served.request(
        served.post,
        method="POST",
        headers=f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
    )
    status = status_of_one(served, head + body)
    assert status is not None and status not in (400, 408, 431)  # the app's own answer


def test_chunked_trailers_over_the_limit_are_refused(served: Served) -> None:
    head = served.request(
        served.post, method="POST", headers="Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n",
    )  # fmt: skip
    trailers = f"X-Trailer: {'a' * (2 * MAX_HEADER_BYTES)}\r\n\r\n".encode()
    with served.connect() as sock:
        send_all_it_takes(sock, head + b"2\r\n{}\r\n0\r\n" + trailers)
        answer = read_until_closed(sock, 10)
    assert answer.closed
    assert answer.status in (431, None)
    served.wait_for_no_connections()


# Deadlines


def test_a_half_sent_header_is_cut_off_with_408_after_the_header_timeout(
    served: Served,
) -> None:
    start = time.monotonic()  # the server's clock starts later, when it takes the connection
    with served.connect() as sock:
        sock.sendall(served.request(served.get)[:-2])  # all but the final empty line
        answer = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert answer.closed
    assert answer.status == 408
    # not at once, and not much later (half: the server's clock may run from a stale reading)
    assert HEADER_TIMEOUT_S / 2 <= answer.at - start <= HEADER_TIMEOUT_S + SLACK_S
    served.wait_for_no_connections()


def test_a_header_trickled_a_byte_at_a_time_is_cut_off_after_the_header_timeout(
    served: Served,
) -> None:
    request = served.request(served.get, headers=f"X-Slow: {'a' * 1000}\r\n")
    with served.connect() as sock:
        start = time.monotonic()
        for byte in request[:-2]:
            if select.select([sock], [], [], 0)[0]:  # an answer, or the connection closed
                break
            assert time.monotonic() - start < HEADER_TIMEOUT_S + SLACK_S, "never cut off"
            send_all_it_takes(sock, bytes([byte]))
            time.sleep(0.1)
        answer = read_until_closed(sock, SLACK_S)
    assert answer.closed
    assert answer.status == 408
    served.wait_for_no_connections()


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(served: Served) -> None:
    with served.connect() as sock:
        answer = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert answer.closed
    assert answer.raw == b""
    served.wait_for_no_connections()


def test_a_stalled_body_is_cut_off_with_408_after_the_read_timeout(served: Served) -> None:
    head = served.request(
        served.post, method="POST",
        headers="Content-Type: application/json\r\nContent-Length: 100\r\n",
    )  # fmt: skip
    with served.connect() as sock:
        start = time.monotonic()
        sock.sendall(head + b'{"mode": "p')
        answer = read_until_closed(sock, BODY_READ_TIMEOUT_S + SLACK_S)
    assert answer.closed
    assert answer.status == 408
    assert BODY_READ_TIMEOUT_S / 2 <= answer.at - start <= BODY_READ_TIMEOUT_S + SLACK_S
    served.wait_for_no_connections()


# What still works


def test_requests_on_one_kept_alive_connection_are_all_answered(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    statuses, sockets = [], set()
    for _ in range(5):
        connection.request("GET", served.get)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        sockets.add(id(connection.sock))
    connection.close()
    assert statuses == [200] * 5
    assert len(sockets) == 1


def test_a_later_request_on_a_kept_alive_connection_has_a_header_clock_of_its_own(
    served: Served,
) -> None:
    # waits longer than the header timeout between two requests (less than keep-alive's)
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    connection.request("GET", served.get)
    first = connection.getresponse()
    first.read()
    kept = connection.sock
    time.sleep(HEADER_TIMEOUT_S + 1)
    connection.request("GET", served.get)
    second = connection.getresponse()
    second.read()
    assert connection.sock is kept
    connection.close()
    assert (first.status, second.status) == (200, 200)


def test_a_body_sent_slowly_but_steadily_is_read_to_the_end(
    tmp_path: Path,
) -> None:
    make, _get, post = APPS["reader-page"]  # the PIN, a few digits at a time
    served = Served(make(tmp_path), SteadyBodyBounds, "/", post)
    try:
        body = b'{"pin": "1234"}' + b" " * 17  # 32 bytes: JSON may end in white space
        head = served.request(
            post, method="POST",
            headers=f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
        )  # fmt: skip
        with served.connect() as sock:
            sock.sendall(head)
            start = time.monotonic()
            for i in range(0, len(body), 4):  # 8 pieces, 0.5 s apart: longer than the timeout
                sock.sendall(body[i : i + 4])
                time.sleep(0.5)
            assert time.monotonic() - start > SteadyBodyBounds.body_read_timeout_s
            answer = read_until_closed(sock, 2)
        assert answer.status not in (None, 408)
    finally:
        served.stop()


# The servers' own commands


def _peak_rss_kib(pids: list[int]) -> int:
    """The peak resident memory of these processes so far (VmHWM), in KiB."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


def _process_tree(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(int(p) for p in found.split())]


COMMANDS: dict[str, tuple[list[str], str]] = {
    "qualification-server": (["qualification-server", "serve", "--workers", "2"], "/healthz"),
    "insurer-registry": (["insurer-registry", "serve"], "/healthz"),
    "reception": (["clinic", "serve"], "/"),
    "reader-page": (["clinic", "reader-serve"], "/"),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_server_command_refuses_a_32_MB_header_without_holding_it(
    name: str, tmp_path: Path
) -> None:
    command, path = COMMANDS[name]
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/{name}.db",
        "ONSHI_REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path}/registry.db",
        "ONSHI_CLINIC_TOKEN": "1310000017.unused",
        "ONSHI_CLINIC_SERVER_URL": "http://127.0.0.1:9",
    }
    script = str(Path(sys.executable).parent / command[0])
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [script, *command[1:], "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        for _ in range(4):  # each worker has answered, and warmed up
            assert httpx.get(url, timeout=5).status_code == 200
        pids = _process_tree(server.pid)
        before = _peak_rss_kib(pids)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: ".encode()
            send_all_it_takes(sock, head + b"a" * (32 << 20) + b"\r\n\r\n")
            answer = read_until_closed(sock, 30)
        grown_kib = _peak_rss_kib(pids) - before
        assert grown_kib < 8 * 1024, f"the server grew by {grown_kib} KiB"
        assert answer.closed
        assert answer.status == 431 or answer.raw == b""
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
