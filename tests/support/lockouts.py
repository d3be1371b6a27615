"""What a clinic's face reader sends when a face does not match the card: the device-signed
report of a failed face match (`POST /v1/face-failures`), for the server's and the desk's
lockout tests."""

from __future__ import annotations

import base64
from typing import Any

from qualification_server.contract.presence import face_failure_message
from tests.support.world import World, sign_with_card


def failure_report(world: World, label: str, *, signed_for: str | None = None) -> dict[str, Any]:
    """The report that the face did not match `label`'s card, signed by the clinic's reader
    (over another card's certificate with `signed_for`)."""
    challenge = world.challenge()
    cert_b64, _ = sign_with_card(world.card(label), challenge)
    signed = cert_b64
    if signed_for is not None:
        signed, _ = sign_with_card(world.card(signed_for), challenge)
    message = face_failure_message(base64.b64decode(challenge), base64.b64decode(signed))
    return {
        "challenge": challenge,
        "certificate": cert_b64,
        "device_id": "face-1",
        "signature": base64.b64encode(world.device_key.sign(message)).decode(),
    }


def report(world: World, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    """POST the report; its status and body."""
    response = world.client.post("/v1/face-failures", json=body, headers=world.headers(token))
    return response.status_code, response.json()


def fail_face(world: World, label: str, times: int) -> dict[str, Any]:
    """`times` failed face matches of `label`'s card, each counted; the last answer."""
    answer: dict[str, Any] = {}
    for _ in range(times):
        status, answer = report(world, failure_report(world, label))
        assert status == 200, answer
    return answer
