"""HAProxy in front of the instances: its configuration, and what its runtime socket says of
each instance."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

# How the balancer watches the instances (the figures docs/deployment.md measures):
# a readiness check every 500 ms, 250 ms while a check is failing or recovering; two
# failures in a row take an instance out, two successes put it back.
CHECK_INTERVAL = "500ms"
CHECK_FAST_INTERVAL = "250ms"


class HaproxyMissing(RuntimeError):
    """HAProxy is not installed."""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise HaproxyMissing("HAProxy is missing: install Debian's package haproxy")
    return found


def configuration(*, port: int, instances: list[int], stats_socket: Path) -> str:
    """The balancer on 127.0.0.1:`port`, round robin over the instances' ports.

    An instance takes requests while its `/readyz` answers 200 (its database answers, its
    CRLs are current). A request is tried again, on another instance, only when no
    connection to the first could be made (`retry-on conn-failure`): such a request never
    reached an instance, so trying it elsewhere cannot record it twice. A request that was
    sent and got no answer (an instance killed while working on it) is not retried: it may
    have been recorded, and the front desk's challenge is spent either way; the front desk
    sees a 502 and starts over with a new challenge."""
    servers = "\n".join(
        f"    server s{n} 127.0.0.1:{instance} check" for n, instance in enumerate(instances, 1)
    )
    return f"""\
global
    maxconn 2048
    stats socket {stats_socket} mode 600 level admin
    log stdout format raw local0 notice

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option log-separate-errors  # a failed request is logged at err level, so it shows
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    retries 2
    retry-on conn-failure
    option redispatch 1

frontend api
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {CHECK_INTERVAL} fastinter {CHECK_FAST_INTERVAL} \
downinter {CHECK_INTERVAL} fall 2 rise 2
{servers}
"""


def server_states(stats_socket: Path) -> dict[str, str]:
    """Each instance's state as HAProxy sees it ("s1" → "UP", "DOWN", …), from its runtime
    socket's `show stat`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(stats_socket))
        client.sendall(b"show stat\n")
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    lines = b"".join(chunks).decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    states = {}
    for line in lines[1:]:
        fields = dict(zip(header, line.split(","), strict=False))
        if fields.get("pxname") == "instances" and fields.get("svname", "").startswith("s"):
            states[fields["svname"]] = fields["status"]
    return states
