"""The reader page's readiness: not ready while no reader is connected or the qualification
server does not answer, and says which."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from card_reader.pcscd import Pcscd
from clinic_client.api import QualificationClient
from clinic_client.reader import FrontDeskReader
from clinic_client.reader_web.app import create_reader_app
from tests.support.ports import free_port

pytestmark = pytest.mark.pcsc


def test_not_ready_without_the_reader_or_the_server(pcscd: Pcscd) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    reader = FrontDeskReader("no such reader")
    client = QualificationClient(nowhere, "1310000017.secret")
    app = create_reader_app(reader=reader, client=client, server_url=nowhere)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
    reader.close()
    client.close()
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "reader": "no-reader",
        "server": "unreachable",
        "face": "no device key",
    }
