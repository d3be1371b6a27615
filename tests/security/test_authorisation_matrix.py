"""Who may call what: every route of every server against every kind of caller, with the
answer each gets (docs/authorisation.md is this matrix as a table).

The routes are read from each application, so a new route without a row here fails
`test_every_route_has_a_row` until someone decides who may call it. HEAD mirrors GET and is
left out.

Callers hold what their kind holds, and send the request the route needs otherwise intact:

- clinic: a clinic's bearer token (`<医療機関コード>.<secret>`);
- insurer: an insurer's registry credential (`ins_…`);
- network: the registry credential of the qualification server's lookup (`net_…`);
- portal user: the card and its PIN (a PIN signature over a portal challenge), no token;
- anonymous: nothing. Where a card proof is asked for, the callers without the card send
  a real challenge and the victim's certificate (both public) with a signature made by
  another card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.pcscd import Pcscd
from clinic_client.api import QualificationClient
from clinic_client.reader import FrontDeskReader
from clinic_client.reader_web.app import create_reader_app
from clinic_client.web.app import create_clinic_app
from insurer_registry import db as registry_db
from insurer_registry.error_codes import RegistryCode
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import get_insurer, issue_credential
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from qualification_server.api.app import create_app
from qualification_server.clinics.service import (
    disable_clinic,
    register_clinic,
    rotate_clinic_token,
)
from qualification_server.db import transaction
from tests.support.desk import ServerThread
from tests.support.lockouts import failure_report
from tests.support.registry import INSURER_A, RegisteredInsurer, member_body, my_number
from tests.support.world import CLINIC, KYOKAI, OTHER_CLINIC, World

pytestmark = pytest.mark.db


class Caller(StrEnum):
    CLINIC = "clinic"
    INSURER = "insurer"
    NETWORK = "network"
    PORTAL_USER = "portal user"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Expect:
    """The answer a caller gets: its status, and the error code when refused."""

    status: int
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}" if self.code else str(self.status)


OK, CREATED = Expect(200), Expect(201)
NO_CLINIC = Expect(401, "Q5001")  # clinic not authenticated
NO_CARD = Expect(403, "Q2005")  # the proof of the card does not verify
FOREIGN_CHALLENGE = Expect(403, "Q2004")
NO_CREDENTIAL = Expect(401, RegistryCode.INVALID_CREDENTIAL)

EVERYONE = tuple(Caller)
ALL_OK = dict.fromkeys(EVERYONE, OK)
CLINIC_ONLY = {**dict.fromkeys(EVERYONE, NO_CLINIC), Caller.CLINIC: OK}
CARD_ONLY = {**dict.fromkeys(EVERYONE, NO_CARD), Caller.PORTAL_USER: OK}


def _registry_only(kind: Caller, allowed: Expect) -> dict[Caller, Expect]:
    return {**dict.fromkeys(EVERYONE, NO_CREDENTIAL), kind: allowed}


QUALIFICATION_SERVER: dict[str, dict[Caller, Expect]] = {
    "POST /v1/challenges": CLINIC_ONLY,
    "POST /v1/eligibility/card": CLINIC_ONLY,
    "POST /fhir/v1/eligibility/card": CLINIC_ONLY,
    "POST /v1/eligibility/insured-number": CLINIC_ONLY,
    "POST /v1/eligibility/batches": {**CLINIC_ONLY, Caller.CLINIC: Expect(202)},
    "GET /v1/eligibility/batches/{reception_number}": CLINIC_ONLY,
    "POST /v1/registrations": CLINIC_ONLY,
    "POST /v1/reference-numbers": CLINIC_ONLY,
    "POST /v1/reference-numbers/batch": CLINIC_ONLY,
    "POST /v1/face-failures": CLINIC_ONLY,
    "POST /v1/visual-passcodes": CLINIC_ONLY,
    "POST /portal/v1/challenges": ALL_OK,
    "POST /portal/v1/registrations": CARD_ONLY,
    "POST /portal/v1/unregister": CARD_ONLY,
    "POST /portal/v1/access-history": CARD_ONLY,
    "GET /v1/log/checkpoint": ALL_OK,  # the access log's tree is public, as CT's: no person
    "GET /v1/log/consistency": ALL_OK,
    "GET /v1/log/inclusion": ALL_OK,
    "POST /v1/log/records/proofs": CLINIC_ONLY,  # the clinic's own records: by its receipts
    "GET /healthz": ALL_OK,
    "GET /readyz": ALL_OK,
    "GET /metrics": ALL_OK,
    "GET /openapi.json": ALL_OK,
    "GET /docs": ALL_OK,
    "GET /docs/oauth2-redirect": ALL_OK,
    "GET /redoc": ALL_OK,
    "MOUNT /docs-static": ALL_OK,  # the docs pages' scripts (onshi_kernel.docs)
}
REGISTRY: dict[str, dict[Caller, Expect]] = {
    "POST /v1/members": _registry_only(Caller.INSURER, CREATED),
    "GET /v1/members/{qualification_id}": _registry_only(Caller.INSURER, OK),
    "PATCH /v1/members/{qualification_id}": _registry_only(Caller.INSURER, OK),
    "POST /v1/members/{qualification_id}/loss": _registry_only(Caller.INSURER, OK),
    "POST /v1/members/search": _registry_only(Caller.INSURER, OK),
    "GET /v1/members/{qualification_id}/history": _registry_only(Caller.INSURER, OK),
    "POST /v1/imports": _registry_only(Caller.INSURER, CREATED),
    "GET /v1/linkage/held": _registry_only(Caller.INSURER, OK),
    "POST /v1/members/{qualification_id}/linkage/confirmations": _registry_only(Caller.INSURER, OK),
    "POST /network/v1/qualifications/by-person": _registry_only(Caller.NETWORK, OK),
    "POST /network/v1/qualifications/by-insured-number": _registry_only(Caller.NETWORK, OK),
    "POST /network/v1/linkage/by-person": _registry_only(Caller.NETWORK, OK),
    "GET /healthz": ALL_OK,
    "GET /readyz": ALL_OK,
    "GET /openapi.json": ALL_OK,
    "GET /docs": ALL_OK,
    "GET /docs/oauth2-redirect": ALL_OK,
    "GET /redoc": ALL_OK,
    "MOUNT /docs-static": ALL_OK,  # the docs pages' scripts (onshi_kernel.docs)
}


class Browser(StrEnum):
    """Who reaches the front desk's two pages (they have no login: the loopback is their
    credential)."""

    DESK_PAGE = "desk page"  # the app's own page, in the receptionist's (the reader's) browser
    LOCAL_PROGRAM = "local program"  # a program on the desk's machine (no browser headers)
    OTHER_SITE = "other website"  # another site, through the receptionist's browser
    REBOUND_NAME = "rebound name"  # another site's name pointed at 127.0.0.1 (DNS rebinding)


ANSWERED = Expect(200)  # the route ran (without a card in the reader it answers 409)
FOREIGN = Expect(403, "refused")
PAGE_FOR_ALL = {**dict.fromkeys(Browser, ANSWERED), Browser.REBOUND_NAME: FOREIGN}
API_FOR_DESK = {**dict.fromkeys(Browser, FOREIGN), Browser.DESK_PAGE: ANSWERED,
                Browser.LOCAL_PROGRAM: ANSWERED}  # fmt: skip
LOCAL_CALLERS = (Browser.DESK_PAGE, Browser.LOCAL_PROGRAM)
# The reception terminal (`clinic serve`): no route takes a card or a PIN.
RECEPTION: dict[str, dict[Browser, Expect]] = {
    "GET /": PAGE_FOR_ALL,
    "MOUNT /static": PAGE_FOR_ALL,
    "POST /api/lookup": API_FOR_DESK,
    "POST /api/batch": API_FOR_DESK,
    "GET /api/batch/{reception_number}": API_FOR_DESK,
    "GET /healthz": PAGE_FOR_ALL,
    "GET /readyz": PAGE_FOR_ALL,
    "GET /api/check-ins": API_FOR_DESK,
    "GET /api/check-ins/events": API_FOR_DESK,
    "GET /api/tomorrow": API_FOR_DESK,
    # the reader process's, with the reception key (none here: refused)
    "POST /api/check-ins": {**API_FOR_DESK, **dict.fromkeys(LOCAL_CALLERS, Expect(401, "refused"))},
}
# The patient-facing reader page (`clinic reader-serve`): the card and its PIN.
READER_PAGE: dict[str, dict[Browser, Expect]] = {
    "GET /": PAGE_FOR_ALL,
    "MOUNT /static": PAGE_FOR_ALL,
    "GET /healthz": PAGE_FOR_ALL,
    "GET /readyz": PAGE_FOR_ALL,
    "GET /api/status": API_FOR_DESK,
    "GET /api/card": API_FOR_DESK,
    "POST /api/pin": API_FOR_DESK,
    "POST /api/check": API_FOR_DESK,
}


def _routes(app: FastAPI) -> Iterator[tuple[BaseRoute, str | None, set[str] | None]]:
    """(route, path, methods) of every route, those of included routers too (FastAPI keeps
    an included router as one entry of `app.routes` and resolves it when asked)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # a FastAPI that copies included routes into `app.routes`
        for route in app.routes:
            yield route, getattr(route, "path", None), getattr(route, "methods", None)
        return
    for context in contexts(app.routes):
        yield context.original_route, context.path, context.methods


def routes_of(app: FastAPI) -> set[str]:
    """`METHOD /path` of every route (`MOUNT /path` of a mount), HEAD left out."""
    keys: set[str] = set()
    for route, path, methods in _routes(app):
        if isinstance(route, Mount):
            keys.add(f"MOUNT {path}")
        elif isinstance(route, Route) or methods:
            keys |= {f"{method} {path}" for method in (methods or set()) - {"HEAD"}}
        else:  # a websocket, or a kind nobody has classified: no row matches it
            keys.add(f"{type(route).__name__} {path}")
    return keys


@dataclass
class Call:
    """One request, as a caller of some kind sends it."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None

    def send(self, client: TestClient | httpx.Client) -> httpx.Response:
        return client.request(
            self.method, self.path, headers=self.headers, json=self.json, content=self.content
        )


def outcome(response: httpx.Response) -> Expect:
    """What came back, in the matrix's terms."""
    if response.status_code < 400:
        return Expect(response.status_code)
    try:
        error = response.json()
    except ValueError:
        return Expect(response.status_code, "(not JSON)")
    code = error.get("error", {}).get("code") or error.get("failure", {}).get("kind")
    if error.get("resourceType") == "OperationOutcome":  # the FHIR route's refusals
        code = error["issue"][0]["details"]["coding"][0]["code"]
    return Expect(response.status_code, code)


def mismatches(expected: dict[str, dict[Any, Expect]], run: Callable[[str, Any], Expect]) -> str:
    """Every cell whose answer differs from the matrix, one line each."""
    lines = []
    for route, row in expected.items():
        for caller, want in row.items():
            got = run(route, caller)
            if got != want:
                lines.append(f"{route} as {caller}: expected {want}, got {got}")
    return "\n".join(lines)


# --- the qualification server ---------------------------------------------------------------


def _registry_credential(world: World, kind: CredentialKind) -> str:
    with registry_db.transaction(world.registry) as session:
        insurer = (
            get_insurer(session=session, number=KYOKAI) if kind is CredentialKind.INSURER else None
        )
        return issue_credential(session=session, kind=kind, label="matrix", insurer=insurer).token


_LOOKUP_QUERY = {"InsurerNumber": KYOKAI.wire, "InsuredCardSymbol": "記号12",
                 "InsuredIdentificationNumber": "1001", "Birthdate": "19800401"}  # fmt: skip


def numbered(query: dict[str, str]) -> dict[str, Any]:
    """A 照会番号 registration entry for the person `query` names."""
    return {"QualificationConfirmSearchInfo": query, "ReferenceNumber": "000123"}


_LOG_QUERIES = {"/v1/log/consistency": "?old=1&new=2", "/v1/log/inclusion": "?index=0&size=2"}


def seal_and_sign(world: World) -> None:
    """Seal the access log and sign a checkpoint of it (under a key of this test's)."""
    from onshi_kernel.transparency.note import Ed25519Signer
    from qualification_server.access_log import log as access_log
    from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity

    with world.deps.sessions() as session, session.begin():
        access_log.seal(session)
    identity = LogIdentity("onshi.test/access-log", Ed25519Signer.generate("onshi.test/log"))
    Checkpointer(world.deps.sessions, identity).sign_now()


class QualificationCalls:
    """The request each route needs, made by each kind of caller."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tokens = {
            Caller.CLINIC: world.clinic_token,
            Caller.INSURER: _registry_credential(world, CredentialKind.INSURER),
            Caller.NETWORK: _registry_credential(world, CredentialKind.NETWORK),
        }
        world.register("yamada-taro")  # card checks answer
        world.register("suzuki-hanako")  # the portal user of the portal rows
        submitted = world.client.post(  # the clinic's own batch, for fetching
            "/v1/eligibility/batches",
            json={"entries": [_LOOKUP_QUERY]},
            headers=world.headers(),
        )
        self.reception_number = submitted.json()["MessageHeader"]["ReceptionNumber"]
        seal_and_sign(world)  # the log's routes answer from a checkpoint

    def headers(self, caller: Caller) -> dict[str, str]:
        token = self.tokens.get(caller)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def card_check(self) -> dict[str, Any]:
        challenge = self.world.challenge()
        proof = self.world.proof("yamada-taro", challenge)
        return {"challenge": challenge, "certificate": proof["certificate"],
                "proof": {"method": "pin", "signature": proof["signature"]}}  # fmt: skip

    def card_proof(self, caller: Caller, purpose: str) -> dict[str, str]:
        """The portal user's proof; anyone else's has suzuki's certificate but not her card."""
        challenge = self.world.portal_challenge(purpose)
        proof = self.world.proof("suzuki-hanako", challenge)
        if caller is not Caller.PORTAL_USER:
            proof["signature"] = self.world.proof("yamada-taro", challenge)["signature"]
        return proof

    def call(self, route: str, caller: Caller) -> Call:
        method, path = route.split(" ", 1)
        path = path.replace("{reception_number}", self.reception_number)
        path += _LOG_QUERIES.get(path, "")
        if method == "MOUNT":
            method, path = "GET", f"{path}/favicon.png"
        request = Call(method, path, self.headers(caller))
        query = _LOOKUP_QUERY
        bodies: dict[str, Callable[[], Any]] = {
            "/v1/challenges": lambda: {"purpose": "check"},
            "/v1/eligibility/card": self.card_check,
            "/fhir/v1/eligibility/card": self.card_check,
            "/v1/eligibility/insured-number": lambda: {"query": query},
            "/v1/eligibility/batches": lambda: {"entries": [query]},
            "/v1/registrations": lambda: {
                "proof": self.world.proof("ito-mai", self.world.challenge("registration")),
                "consent": True,
            },
            "/v1/reference-numbers": lambda: {"entry": numbered(query)},
            "/v1/reference-numbers/batch": lambda: {"entries": [numbered(query)]},
            "/v1/face-failures": lambda: failure_report(self.world, "yamada-taro"),
            "/v1/visual-passcodes": dict,
            "/v1/log/records/proofs": lambda: {"ids": [1]},
            "/portal/v1/challenges": lambda: {"purpose": "portal"},
            "/portal/v1/registrations": lambda: {
                "proof": self.card_proof(caller, "registration"),
                "consent": True,
            },
            "/portal/v1/unregister": lambda: {"proof": self.card_proof(caller, "portal")},
            "/portal/v1/access-history": lambda: {"proof": self.card_proof(caller, "portal")},
        }
        if path in bodies:
            request.json = bodies[path]()
        return request


def test_every_route_has_a_row(world: World, client: TestClient, pcscd: Pcscd) -> None:
    assert routes_of(world.client.app) == set(QUALIFICATION_SERVER)  # type: ignore[arg-type]
    assert routes_of(client.app) == set(REGISTRY)  # type: ignore[arg-type]
    client = QualificationClient("http://127.0.0.1:9", "1310000017.unused")
    assert routes_of(create_clinic_app(client=client)) == set(RECEPTION)
    reader_page = create_reader_app(
        reader=FrontDeskReader(vpcd_reader_name(0)), client=client, server_url="http://127.0.0.1:9"
    )
    assert routes_of(reader_page) == set(READER_PAGE)
    client.close()


def test_the_qualification_server_answers_as_the_matrix_says(world: World) -> None:
    calls = QualificationCalls(world)

    def run(route: str, caller: Caller) -> Expect:
        return outcome(calls.call(route, caller).send(world.client))

    assert not mismatches(QUALIFICATION_SERVER, run)


def test_a_challenge_of_another_clinic_is_refused(world: World) -> None:
    """Clinic A's token with a challenge issued to clinic B: numbered refusal, whatever the
    route that spends a challenge."""
    other = world.other_clinic_token
    world.register("yamada-taro")
    for path, purpose, label in (
        ("/v1/eligibility/card", "check", "yamada-taro"),
        ("/fhir/v1/eligibility/card", "check", "yamada-taro"),
        ("/v1/registrations", "registration", "ito-mai"),
    ):
        challenge = world.challenge(purpose, token=other)
        proof = world.proof(label, challenge)
        body: dict[str, Any] = (
            {"proof": proof, "consent": True}
            if purpose == "registration"
            else {"challenge": challenge, "certificate": proof["certificate"],
                  "proof": {"method": "pin", "signature": proof["signature"]}}
        )  # fmt: skip
        response = world.client.post(path, json=body, headers=world.headers())
        assert outcome(response) == FOREIGN_CHALLENGE, path


def test_a_clinic_challenge_opens_no_portal_route_and_a_portal_one_no_clinic_route(
    world: World,
) -> None:
    world.register("yamada-taro")
    at_clinic = world.proof("yamada-taro", world.challenge("registration"))
    response = world.client.post(
        "/portal/v1/registrations", json={"proof": at_clinic, "consent": True}
    )
    assert outcome(response) == FOREIGN_CHALLENGE
    at_portal = world.proof("yamada-taro", world.portal_challenge("registration"))
    response = world.client.post(
        "/v1/registrations", json={"proof": at_portal, "consent": True}, headers=world.headers()
    )
    assert outcome(response) == FOREIGN_CHALLENGE


def test_an_unknown_clinic_is_not_authenticated(world: World) -> None:
    for token in (
        f"{OTHER_CLINIC[:-1]}9.{world.other_clinic_token.split('.', 1)[1]}",  # no such code
        f"{CLINIC}.{world.other_clinic_token.split('.', 1)[1]}",  # a code with another's secret
        CLINIC,  # no secret
        "",
    ):
        response = world.client.post(
            "/v1/challenges", json={"purpose": "check"}, headers=world.headers(token) if token
            else {"Authorization": "Bearer "},
        )  # fmt: skip
        assert outcome(response) == NO_CLINIC, token


def test_a_rotated_clinic_token_is_not_authenticated(world: World) -> None:
    """`clinic rotate-token`. A server that has not seen the old token since refuses it at
    once; one that has trusts it for up to 30 s more (`ClinicAuthenticator`'s memory)."""
    with transaction(world.deps.sessions) as session:
        rotate_clinic_token(session=session, code=OTHER_CLINIC)
    response = world.client.post(
        "/v1/challenges", json={"purpose": "check"}, headers=world.headers(world.other_clinic_token)
    )
    assert outcome(response) == NO_CLINIC


def test_a_disabled_clinic_is_not_authenticated(world: World) -> None:
    """`clinic disable`: the clinic's own, still current token, answered like an unknown one
    (with the same 30 s memory as a rotated token)."""
    with transaction(world.deps.sessions) as session:
        disable_clinic(session=session, code=OTHER_CLINIC, now=world.clock())
    response = world.client.post(
        "/v1/challenges", json={"purpose": "check"}, headers=world.headers(world.other_clinic_token)
    )
    assert outcome(response) == NO_CLINIC


def test_a_newly_registered_clinic_is_authenticated(world: World) -> None:
    with transaction(world.deps.sessions) as session:
        token = register_clinic(session=session, code="1310000025", name="新規", now=world.clock())
    response = world.client.post(
        "/v1/challenges", json={"purpose": "check"}, headers=world.headers(token)
    )
    assert response.status_code == 200


# --- the insurer registry ------------------------------------------------------------------


class RegistryCalls:
    """The request each registry route needs, made by each kind of caller."""

    def __init__(
        self, client: TestClient, insurer: RegisteredInsurer, network: str, clinic_token: str
    ) -> None:
        self.tokens = {Caller.INSURER: insurer.token, Caller.NETWORK: network,
                       Caller.CLINIC: clinic_token}  # fmt: skip
        self.keys = 0
        headers = {**insurer.headers, "Idempotency-Key": "matrix-setup"}
        created = client.post("/v1/members", json=member_body(1), headers=headers)
        assert created.status_code == 201, created.text
        self.member = created.json()["QualificationId"]
        headers["Idempotency-Key"] = "matrix-setup-2"
        lost = client.post("/v1/members", json=member_body(2), headers=headers)
        assert lost.status_code == 201, lost.text
        self.to_lose = lost.json()["QualificationId"]
        # Registered under another person's name: held, so one of its users may confirm it.
        headers["Idempotency-Key"] = "matrix-setup-3"
        held = client.post("/v1/members", json=member_body(900, Name="佐藤　花子"), headers=headers)
        assert held.json()["Linkage"]["Status"] == "held", held.text
        self.held = held.json()["QualificationId"]

    def call(self, route: str, caller: Caller) -> Call:
        method, template = route.split(" ", 1)
        if method == "MOUNT":
            method, template = "GET", f"{template}/favicon.png"
        target = self.member
        if template.endswith("/loss"):
            target = self.to_lose
        elif template.endswith("/confirmations"):
            target = self.held
        path = template.replace("{qualification_id}", str(target))
        self.keys += 1
        headers = {"Idempotency-Key": f"matrix-{self.keys}"}
        if caller in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[caller]}"
        request = Call(method, path, headers)
        number = {"InsurerNumber": INSURER_A, "InsuredCardSymbol": "東京１",
                  "InsuredIdentificationNumber": "1001", "InsuredBranchNumber": "00",
                  "Birthdate": "19800401"}  # fmt: skip
        bodies: dict[str, Any] = {
            "POST /v1/members": member_body(3 + self.keys),
            "PATCH /v1/members/{qualification_id}": {"NameKana": "ヤマダ　タロー"},
            "POST /v1/members/{qualification_id}/loss": {
                "DisqualificationDate": "20250401",
                "ReasonOfLoss": "01",
            },
            "POST /v1/members/search": {"InsuredIdentificationNumber": "1001"},
            "POST /network/v1/qualifications/by-person": {
                "PersonRef": person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)
            },
            "POST /network/v1/qualifications/by-insured-number": number,
            "POST /network/v1/linkage/by-person": {
                "PersonRef": person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)
            },
        }
        if route == "POST /v1/imports":
            request.headers["Content-Type"] = "text/csv"
            request.content = (
                "InsurerNumber,MyNumber,InsuredCardSymbol,InsuredIdentificationNumber,"
                "InsuredBranchNumber,InsuredCardClassification,PersonalFamilyClassification,"
                "Name,NameKana,Sex1,Birthdate,QualificationDate\n"
                f"{INSURER_A},{my_number(900 + self.keys)},東京１,{9000 + self.keys},00,01,1,"
                "山田　花子,ヤマダ　ハナコ,2,19820101,20200401\n"
            ).encode()
        elif route in bodies:
            request.json = bodies[route]
        return request


def test_the_registry_answers_as_the_matrix_says(
    world: World, client: TestClient, insurer_a: RegisteredInsurer, network_token: str
) -> None:
    calls = RegistryCalls(client, insurer_a, network_token, world.clinic_token)

    def run(route: str, caller: Caller) -> Expect:
        response = calls.call(route, caller).send(client)
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
        return outcome(response)

    assert not mismatches(REGISTRY, run)


def test_a_clinic_token_opens_nothing_on_the_registry_nor_a_registry_one_on_the_server(
    world: World, client: TestClient, insurer_a: RegisteredInsurer, network_token: str
) -> None:
    clinic = {"Authorization": f"Bearer {world.clinic_token}", "Idempotency-Key": "x-1"}
    response = client.post("/v1/members", json=member_body(1), headers=clinic)
    assert outcome(response) == NO_CREDENTIAL
    response = client.post("/network/v1/qualifications/by-person", headers=clinic, json={
        "PersonRef": person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)})  # fmt: skip
    assert outcome(response) == NO_CREDENTIAL
    for token in (insurer_a.token, network_token):
        response = world.client.post(
            "/v1/challenges", json={"purpose": "check"}, headers=world.headers(token)
        )
        assert outcome(response) == NO_CLINIC


def test_an_insurer_cannot_see_another_insurers_member(
    client: TestClient, insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    """Not 403: another insurer's qualification answers exactly as a missing one."""
    headers = {**insurer_a.headers, "Idempotency-Key": "mine"}
    member = client.post("/v1/members", json=member_body(1), headers=headers).json()
    path = f"/v1/members/{member['QualificationId']}"
    theirs = client.get(path, headers=insurer_b.headers)
    missing = client.get("/v1/members/999999", headers=insurer_b.headers)
    assert outcome(theirs) == outcome(missing) == Expect(404, RegistryCode.QUALIFICATION_NOT_FOUND)
    assert theirs.json()["error"]["message"] == missing.json()["error"]["message"]
    assert theirs.json()["error"]["detail"].replace(path.rsplit("/", 1)[1], "N") == (
        missing.json()["error"]["detail"].replace("999999", "N")
    )


# --- the front desk ------------------------------------------------------------------------


@pytest.fixture
def desk_url(world: World) -> Iterator[str]:
    """The reception terminal, served on the loopback as `clinic serve` serves it."""
    http = TestClient(world.client.app)
    client = QualificationClient(str(http.base_url), world.clinic_token, http=http)
    app = create_clinic_app(client=client, poll_interval_s=0.05)
    with ServerThread(app) as server:
        yield server.url
    client.close()


@pytest.fixture
def reader_url(world: World, pcscd: Pcscd) -> Iterator[str]:
    """The reader page, served on the loopback as `clinic reader-serve` serves it, over the
    virtual reader with no card in it (a PIN sent spends no card's tries)."""
    with ServerThread(create_app(world.deps, seal_interval_s=None)) as server:
        client = QualificationClient(server.url, world.clinic_token)
        reader = FrontDeskReader(vpcd_reader_name(0))
        app = create_reader_app(
            reader=reader, client=client, server_url=server.url, device=("face-1", world.device_key)
        )
        with ServerThread(app) as served:
            yield served.url
        reader.close()
        client.close()


def browser_headers(url: str, browser: Browser) -> dict[str, str]:
    origin = url
    if browser is Browser.DESK_PAGE:
        return {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    if browser is Browser.OTHER_SITE:
        return {"Origin": "https://example.com", "Sec-Fetch-Site": "cross-site"}
    if browser is Browser.REBOUND_NAME:
        host = f"rebound.example.com:{url.rsplit(':', 1)[1]}"
        return {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    return {}


CONSENTS = {"medication": True, "checkups": False, "limit": True, "prescription": None}


def desk_call(url: str, route: str, browser: Browser, asset: str = "app.js") -> Expect:
    method, path = route.split(" ", 1)
    path = path.replace("{reception_number}", "0" * 16)
    if method == "MOUNT":
        method, path = "GET", f"{path}/{asset}"
    headers = browser_headers(url, browser)
    bodies: dict[str, dict[str, Any]] = {
        "/api/pin": {"json": {"pin": "0000"}},
        "/api/check": {"json": {"mode": "pin", "pin": "0000", "consents": CONSENTS}},
        "/api/lookup": {"json": {"InsurerNumber": KYOKAI.wire, "InsuredCardSymbol": "記号12",
                                 "InsuredIdentificationNumber": "1001",
                                 "InsuredBranchNumber": "00", "Birthdate": "19800401"}},
        "/api/batch": {"files": {"file": ("a.csv", b"InsurerNumber\n", "text/csv")}},
    }  # fmt: skip
    with (
        httpx.Client(base_url=url, timeout=10) as http,
        http.stream(method, path, headers=headers, **bodies.get(path, {})) as response,
    ):
        if response.status_code < 400:
            return Expect(response.status_code)  # the event stream is not read to its end
        response.read()
        got = outcome(response)
    # Without a card in the reader (or with a bad CSV) the route answers with a failure:
    # it ran, which is what the matrix asks.
    return ANSWERED if got.status in (409, 503) else got


def test_the_reception_answers_as_the_matrix_says(desk_url: str) -> None:
    assert not mismatches(RECEPTION, lambda route, who: desk_call(desk_url, route, who))


def test_the_reader_page_answers_as_the_matrix_says(reader_url: str) -> None:
    assert not mismatches(
        READER_PAGE, lambda route, who: desk_call(reader_url, route, who, "reader.js")
    )


# --- the matrix as docs/authorisation.md shows it ----------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorisation.md"


def table(matrix: dict[str, dict[Any, Expect]], columns: tuple[Any, ...]) -> str:
    """The matrix as a Markdown table: a row per route, a column per caller."""

    def cell(expect: Expect) -> str:
        return "allowed" if expect.status < 400 else f"{expect.status} `{expect.code}`"

    lines = [
        "| route | " + " | ".join(str(c) for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for route, row in matrix.items():
        lines.append(f"| `{route}` | " + " | ".join(cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


TABLES = {
    "qualification server": table(QUALIFICATION_SERVER, tuple(Caller)),
    "insurer registry": table(REGISTRY, tuple(Caller)),
    "reception terminal": table(RECEPTION, tuple(Browser)),
    "reader page": table(READER_PAGE, tuple(Browser)),
}


@pytest.mark.parametrize("server", list(TABLES))
def test_the_documented_matrix_is_the_tested_one(server: str) -> None:
    assert TABLES[server] in DOC.read_text(encoding="utf-8"), (
        f"docs/authorisation.md: the {server}'s table differs; it is now\n\n{TABLES[server]}"
    )
