"""`python -m qualification_server.deploy status` on the running deployment (the package's
teardown stops it with `down`, and checks nothing is left)."""

from __future__ import annotations

import subprocess
import sys

from tests.cluster.conftest import Deployment


def test_status_names_every_part_the_balancers_view_and_the_replication(
    deployment: Deployment,
) -> None:
    cluster = deployment.cluster
    command = [sys.executable, "-m", "qualification_server.deploy", "status"]
    done = subprocess.run(
        [*command, "--dir", str(cluster.root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    states = dict(line.split("\t", 1) for line in done.stdout.splitlines())
    assert states["primary"] == f"port {cluster.ports.primary}: running"
    assert states["standby"] == f"port {cluster.ports.standby}: running"
    for n, port in enumerate(cluster.ports.instances):
        assert states[f"instance-{n}"] == f"port {port}: running"
        assert states[f"haproxy s{n + 1}"] == "UP"
    assert states["haproxy"] == f"port {cluster.ports.balancer}: running"
    assert states["replication"].startswith("streaming (sync)")
