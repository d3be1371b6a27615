"""A local TCP port for a server a test starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A local port nothing listens on now: the kernel's choice, bound and let go (never
    vpcd's 35963-35964 once `make test` has reserved them)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
