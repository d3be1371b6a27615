"""One rule for the `Authorization` header, the same in the qualification server and the
insurer registry: the scheme `Bearer` in any case (RFC 7235 §2.1), one space, one token
(RFC 6750's token68), in one header. Anything else is refused with the server's usual
numbered error (Q5001, `invalid_credential`), and the answer never repeats the token.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from insurer_registry.error_codes import RegistryCode
from onshi_kernel.auth_header import MalformedAuthorization, bearer_token
from tests.support.registry import RegisteredInsurer
from tests.support.world import World

# How a header is written, `{t}` standing for the caller's own, valid token.
ACCEPTED = ["Bearer {t}", "bearer {t}", "BEARER {t}", "bEaReR {t}"]
REFUSED = [
    "{t}",  # a raw token, no scheme
    "Bearer",
    "Bearer ",
    "Bearer  {t}",  # two spaces
    "Bearer {t} ",
    "Bearer {t} {t}",  # two tokens
    "Bearer {t} extra",
    "Bearer\t{t}",
    "Bearer:{t}",
    "Bearer={t}",
    "Bearer{t}",
    "Basic {t}",
    "Token {t}",
    "Bearer Bearer {t}",
    "Bearer {t},Bearer {t}",
    "Bearer {t}\x7f",
]


@pytest.mark.parametrize("header", ACCEPTED)
def test_the_bearer_scheme_is_recognised_in_any_case(header: str) -> None:
    assert bearer_token([header.format(t="1310000017.s3cr3t-_~+/=")]) == "1310000017.s3cr3t-_~+/="


@pytest.mark.parametrize("header", REFUSED)
def test_anything_but_bearer_one_space_one_token_is_refused(header: str) -> None:
    with pytest.raises(MalformedAuthorization) as refused:
        bearer_token([header.format(t="1310000017.s3cr3t")])
    assert "s3cr3t" not in str(refused.value)


def test_no_header_and_two_headers_are_refused() -> None:
    with pytest.raises(MalformedAuthorization, match="no Authorization header"):
        bearer_token([])
    with pytest.raises(MalformedAuthorization, match="more than one Authorization header"):
        bearer_token(["Bearer a.b", "Bearer a.b"])


# --- the qualification server ---------------------------------------------------------------


def challenge(world: World, headers: list[tuple[str, str]]) -> tuple[int, str, str]:
    """`POST /v1/challenges` with exactly these headers: status, error code, answer text."""
    response = world.client.post("/v1/challenges", json={"purpose": "check"}, headers=headers)
    code = response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
    return response.status_code, code, response.text


@pytest.mark.db
@pytest.mark.parametrize("header", ACCEPTED)
def test_the_server_takes_bearer_in_any_case(world: World, header: str) -> None:
    status, _, text = challenge(world, [("Authorization", header.format(t=world.clinic_token))])
    assert status == 200, text


@pytest.mark.db
@pytest.mark.parametrize("header", REFUSED)
def test_the_server_refuses_every_other_header_without_echoing_it(
    world: World, header: str
) -> None:
    status, code, text = challenge(world, [("Authorization", header.format(t=world.clinic_token))])
    assert (status, code) == (401, "Q5001")
    assert world.clinic_token.split(".", 1)[1] not in text


@pytest.mark.db
def test_the_server_refuses_two_authorization_headers(world: World) -> None:
    """Whichever a proxy or a framework would read, the answer is the same: refused."""
    for second in (world.clinic_token, world.other_clinic_token, "junk"):
        headers = [("Authorization", f"Bearer {world.clinic_token}"),
                   ("Authorization", f"Bearer {second}")]  # fmt: skip
        assert challenge(world, headers)[:2] == (401, "Q5001"), second


# --- the insurer registry ------------------------------------------------------------------


def member(client: TestClient, headers: list[tuple[str, str]]) -> tuple[int, str, str]:
    """`GET /v1/members/999999` (none such): 404 once authenticated, 401 if refused."""
    response = client.get("/v1/members/999999", headers=headers)
    return response.status_code, response.json()["error"]["code"], response.text


@pytest.mark.db
@pytest.mark.parametrize("header", ACCEPTED)
def test_the_registry_takes_bearer_in_any_case(
    client: TestClient, insurer_a: RegisteredInsurer, header: str
) -> None:
    got = member(client, [("Authorization", header.format(t=insurer_a.token))])
    assert got[:2] == (404, RegistryCode.QUALIFICATION_NOT_FOUND), got[2]


@pytest.mark.db
@pytest.mark.parametrize("header", REFUSED)
def test_the_registry_refuses_every_other_header_without_echoing_it(
    client: TestClient, insurer_a: RegisteredInsurer, header: str
) -> None:
    response = client.get(
        "/v1/members/999999", headers=[("Authorization", header.format(t=insurer_a.token))]
    )
    assert (response.status_code, response.json()["error"]["code"]) == (
        401,
        RegistryCode.INVALID_CREDENTIAL,
    )
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert insurer_a.token.split(".", 1)[1] not in response.text


@pytest.mark.db
def test_the_registry_refuses_two_authorization_headers(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    for second in (insurer_a.token, "junk"):
        headers = [("Authorization", f"Bearer {insurer_a.token}"),
                   ("Authorization", f"Bearer {second}")]  # fmt: skip
        assert member(client, headers)[:2] == (401, RegistryCode.INVALID_CREDENTIAL), second
