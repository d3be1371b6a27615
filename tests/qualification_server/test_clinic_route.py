"""The card check's route class answers every request as FastAPI's own handler would: each
malformed request below is sent to the app as built and to the same app with FastAPI's
handler put back, and the two answers must be the same (status, error, headers but the
request id); so must a body that breaks off or grows over the limit; a good check is
answered alike by both."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from qualification_server.api.app import create_app
from qualification_server.api.clinic_route import ClinicJSONRoute
from tests.support.loops import in_a_loop_of_its_own
from tests.support.world import World

pytestmark = pytest.mark.db

GOOD_SHAPE = {
    "challenge": base64.b64encode(b"x" * 48).decode(),
    "certificate": base64.b64encode(b"not a certificate").decode(),
    "proof": {"method": "pin", "signature": base64.b64encode(b"s" * 256).decode()},
    "consents": {},
}


def _fastapis_answers(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    send: Callable[[TestClient], list[tuple[int, object, dict[str, str]]]],
) -> list[tuple[int, object, dict[str, str]]]:
    """What the same app answers with FastAPI's own handler on the card routes. FastAPI
    builds a route's handler at the route's first request: the patch lasts for all of them."""
    with monkeypatch.context() as patched:
        patched.setattr(ClinicJSONRoute, "get_route_handler", APIRoute.get_route_handler)
        app = create_app(world.deps, seal_interval_s=None, batch_interval_s=None)
        return send(TestClient(app, raise_server_exceptions=False))


def _without_request_id(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("request_id", None)
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        body.pop("id", None)
        for issue in body["issue"]:  # the diagnostics end with the request's id
            issue["diagnostics"] = re.sub(r"; request \w+$", "", issue.get("diagnostics", ""))
    return body


def _answer(response: Any) -> tuple[int, object, dict[str, str]]:
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in {"x-request-id", "content-length", "date"}
    }
    return response.status_code, _without_request_id(response.json()), headers


def _requests(token: str) -> list[tuple[str, dict[str, str], bytes | None]]:
    auth = {"Authorization": f"Bearer {token}"}
    json_type = {"Content-Type": "application/json"}
    good = json.dumps(GOOD_SHAPE).encode()
    return [
        ("no body", {**auth, **json_type}, None),
        ("null", {**auth, **json_type}, b"null"),
        ("a list", {**auth, **json_type}, b"[]"),
        ("not JSON", {**auth, **json_type}, b'{"challenge": '),
        ("not UTF-8", {**auth, **json_type}, b'{"challenge": "\xff\xfe"}'),
        ("no content type", auth, good),
        ("text/plain", {**auth, "Content-Type": "text/plain"}, good),
        ("a +json type", {**auth, "Content-Type": "application/merge-patch+json"}, good),
        ("fields missing", {**auth, **json_type}, b'{"challenge": "AAAA"}'),
        ("a field of the wrong type", {**auth, **json_type}, b'{"challenge": 5}'),
        ("an unknown method", {**auth, **json_type}, good.replace(b'"pin"', b'"telepathy"')),
        ("no credential, a broken body", json_type, b'{"challenge": 5}'),
        ("no credential, not JSON", json_type, b"{"),
        ("a wrong credential", {"Authorization": "Bearer 1310000017.wrong", **json_type}, good),
        ("two credentials", {**json_type, "Authorization": f"Bearer {token}, Bearer x"}, good),
        ("a good shape, a bad challenge", {**auth, **json_type}, good),
    ]


@pytest.mark.parametrize("path", ["/v1/eligibility/card", "/fhir/v1/eligibility/card"])
def test_every_malformed_request_is_answered_as_fastapi_would(
    world: World, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    requests = _requests(world.clinic_token)

    def send(client: TestClient) -> list[tuple[int, object, dict[str, str]]]:
        return [_answer(client.post(path, headers=h, content=b)) for _, h, b in requests]

    ours = TestClient(world.client.app, raise_server_exceptions=False)
    ours.post(path)  # its handler built now, before FastAPI's is put back for the other app
    expected = _fastapis_answers(world, monkeypatch, send)
    for (name, _, _), got, wanted in zip(requests, send(ours), expected, strict=True):
        assert got == wanted, name
        assert wanted[0] >= 400, name  # every one of them is refused


def _asgi_post(
    app: Any, path: str, token: str, messages: list[dict[str, Any]]
) -> tuple[int, bytes]:
    """`app`'s answer to a POST whose body arrives as `messages` (then nothing more)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    }  # fmt: skip
    pending = list(messages)
    status, body = 0, b""

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    in_a_loop_of_its_own(anyio.run, app, scope, receive, send)
    return status, body


@pytest.mark.parametrize("path", ["/v1/eligibility/card", "/fhir/v1/eligibility/card"])
@pytest.mark.parametrize(("case", "status"), [("gone mid-body", 422), ("over the limit", 413)])
def test_a_body_that_breaks_off_is_answered_as_fastapi_would(
    world: World, monkeypatch: pytest.MonkeyPatch, path: str, case: str, status: int
) -> None:
    """A client gone mid-body (FastAPI's 400, answered as a body that does not match), and
    a streamed body (no Content-Length) that grows over the server's limit (413)."""
    start = {"type": "http.request", "body": b'{"challenge": "', "more_body": True}
    if case == "gone mid-body":
        part = [start]
    else:
        chunk = b"A" * 4096
        count = world.deps.settings.max_request_bytes // len(chunk) + 2
        part = [start] + [{"type": "http.request", "body": chunk, "more_body": True}] * count
    ours = TestClient(world.client.app, raise_server_exceptions=False)
    ours.post(path)  # its handler built now, before FastAPI's is put back for the other app

    def send(client: TestClient) -> list[tuple[int, object, dict[str, str]]]:
        status, body = _asgi_post(client.app, path, world.clinic_token, part)
        return [(status, _without_request_id(json.loads(body)), {})]

    expected = _fastapis_answers(world, monkeypatch, send)
    assert send(ours) == expected
    assert expected[0][0] == status  # refused, not a server error


def test_a_good_check_is_answered_alike_by_both(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.register("yamada-taro")

    def send(client: TestClient) -> list[tuple[int, object, dict[str, str]]]:
        challenge = world.challenge()
        proof = world.proof("yamada-taro", challenge)
        body = {
            "challenge": challenge,
            "certificate": proof["certificate"],
            "proof": {"method": "pin", "signature": proof["signature"]},
            "consents": {},
        }
        response = client.post("/v1/eligibility/card", json=body, headers=world.headers())
        assert response.status_code == 200, response.text
        return [(200, response.json()["MessageBody"], {})]  # the header names its own time

    ours = send(world.client)
    assert _fastapis_answers(world, monkeypatch, send) == ours


def test_an_endpoint_of_another_shape_is_refused_when_the_route_is_made() -> None:
    async def other(deps: object, clinic: object, body: object) -> None:
        raise AssertionError

    with pytest.raises(TypeError, match="async def \\(deps, who, body\\)"):
        ClinicJSONRoute("/x", other, methods=["POST"])


def test_the_card_checks_are_the_first_routes_the_app_tries(world: World) -> None:
    """Both card checks sit on the app's own router ahead of every included router (matched
    through two of them they cost 50-58 µs a check), and the API document still gives them
    with their answers and refusals."""
    app = create_app(world.deps, seal_interval_s=None, batch_interval_s=None)
    hot = {"/v1/eligibility/card", "/fhir/v1/eligibility/card"}
    routes = app.router.routes
    at = [i for i, route in enumerate(routes) if getattr(route, "path", None) in hot]
    included = [i for i, route in enumerate(routes) if not hasattr(route, "path")]
    assert len(at) == 2 and all(isinstance(routes[i], ClinicJSONRoute) for i in at)
    assert max(at) < min(included)
    paths = app.openapi()["paths"]
    assert set(paths["/v1/eligibility/card"]["post"]["responses"]) >= {"200", "401", "422"}
    fhir = paths["/fhir/v1/eligibility/card"]["post"]["responses"]
    assert "application/fhir+json" in fhir["200"]["content"]
