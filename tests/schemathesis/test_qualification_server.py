"""Schemathesis against the qualification server's OpenAPI document, in process, on a real
database with registered clinics and emulated cards: no 5xx, every answer (status code,
content type, body) is one the document promises, and a request the document calls valid is
not refused as malformed (400, 413, 422) but for a reason no schema can state (`EXCUSES`).

Generated requests carry a valid clinic token; generated proofs are random, so they reach
the refusals. The answers behind a valid proof are reached by cases whose proof comes from
a real card, the rest of the body still generated from the document."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, Response
from sqlalchemy import select

from qualification_server.api.app import build_dependencies, create_app
from qualification_server.cards.proofs import Method, device_message
from qualification_server.lookups import batches
from qualification_server.models import Batch
from qualification_server.settings import Settings
from tests.support.world import KYOKAI, REPO, World, sign_with_card

from .common import CHECKS, accepts_valid_requests, document_accepts, examples

pytestmark = pytest.mark.db

# One world for all of an operation's examples, on purpose: the server must cope with
# whatever the examples before left behind (spent challenges, registrations, the log).
EXAMPLES = examples(20)
REGISTERED = ("yamada-taro", "suzuki-hanako", "kobayashi-ken", "ito-mai")
UNREGISTERED = ("tanaka-ichiro", "sato-yui")


def _document_app() -> FastAPI:
    """The server as `create_app` builds it, wired by `build_dependencies` to nothing that
    is used: its OpenAPI document depends on the routes only. Requests go to the `world`
    fixture's server."""
    issuer = REPO / "fixtures" / "issuer"
    config = Settings(
        database_url="sqlite://",
        registry_database_url="sqlite://",
        jpki_ca_files=[issuer / "ca" / "auth_ca.pem"],
        jpki_crl_files=[issuer / "crl" / "auth_ca.crl"],
        issuer_directory_files=[issuer / "directory.json"],
    )
    return create_app(build_dependencies(config), seal_interval_s=None)


DOCUMENT_APP = _document_app()
DOCUMENT = DOCUMENT_APP.openapi()
schema = schemathesis.openapi.from_asgi("/openapi.json", DOCUMENT_APP)
CARD = schema["/v1/eligibility/card"]["POST"]

# The refusals of a request the document calls valid that no schema can foresee:
# (status, code, what the detail says or None for any) → why.
EXCUSES = {
    (400, "Q2001", "MAC"): "a challenge of the right size that this server did not issue",
    (400, "Q2002", None): "a challenge that expired",
    (400, "Q1001", None): "a certificate that is no DER X.509 certificate",
    (413, "Q4003", None): "more entries than the server's configured batch limit",
    (413, "Q6002", None): "a body over the server's configured size",
    (422, "Q6001", "check digit"): "an insurer number whose check digit does not match",
    (422, "Q6001", "the tree's size"): "a size or leaf index beyond the access log's tree",
    (422, "Q6001", "9223372036854775808"): "a record id at 2**63, which the generator takes "
    "for below the document's exclusive maximum (a float cannot hold it exactly)",
}


def _refusal(response: Response) -> tuple[str, str]:
    """A refusal's code and detail: the error body's, or an OperationOutcome's (the FHIR
    route's refusals: the code in `details`, the detail in `diagnostics`)."""
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        issue = body["issue"][0]
        return issue["details"]["coding"][0]["code"], issue.get("diagnostics", "")
    return body["error"]["code"], body["error"]["detail"] or ""


def excuse(_case: Case, response: Response) -> str | None:
    code_sent, detail_sent = _refusal(response)
    for (status, code, detail), why in EXCUSES.items():
        if (response.status_code, code_sent) == (status, code) and (
            detail is None or detail in detail_sent
        ):
            return why
    return None


SERVER_CHECKS = [*CHECKS, accepts_valid_requests(excuse)]


def validate(case: schemathesis.Case, world: World, app: Any = None) -> int:
    """Send `case` to the world's server as the clinic; check the answer; its status."""
    response = case.call_and_validate(
        app=app or world.client.app, headers=world.headers(), checks=SERVER_CHECKS
    )
    return int(response.status_code)


def test_the_document_tested_is_the_servers(world: World) -> None:
    assert world.client.app.openapi() == DOCUMENT_APP.openapi()  # type: ignore[attr-defined]


@schema.parametrize()
@EXAMPLES
def test_every_operation_keeps_its_promises(case: schemathesis.Case, world: World) -> None:
    validate(case, world)


@EXAMPLES
@given(case=CARD.as_strategy(), label=st.sampled_from(REGISTERED + UNREGISTERED))
def test_card_checks_with_a_real_card_keep_their_promises(
    world: World, case: schemathesis.Case, label: str
) -> None:
    """Consents, dates and identifiers from the document; the proof from the card."""
    if label in REGISTERED and label not in world.__dict__.setdefault("registered", set()):
        world.register(label)
        world.__dict__["registered"].add(label)
    challenge = world.challenge()
    proof = world.proof(label, challenge)
    case.body = {
        **case.body,
        "challenge": challenge,
        "certificate": proof["certificate"],
        "proof": {"method": "pin", "signature": proof["signature"]},
    }
    response = case.call_and_validate(
        app=world.client.app, headers=world.headers(), checks=SERVER_CHECKS
    )
    assert response.status_code in (200, 404)  # answered, or not registered / no qualification


A_CHALLENGE = "A" * 102 + "=="  # the size of one; this server issued none such
PIN_CARD = {"challenge": A_CHALLENGE, "certificate": "AAAA",
            "proof": {"method": "pin", "signature": "AAAA"}}  # fmt: skip
PORTAL = {"proof": {"challenge": A_CHALLENGE, "certificate": "AAAA", "signature": "AAAA"}}
LOOKUP = {"query": {"InsurerNumber": KYOKAI.wire, "InsuredIdentificationNumber": "1001",
                    "InsuredBranchNumber": "00", "Birthdate": "19800401"}}  # fmt: skip


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`body` with `changes` (`query`, `proof`: merged into the nested object)."""
    merged = dict(body)
    for name, value in changes.items():
        merged[name] = {**body[name], **value} if isinstance(value, dict) else value
    return merged


# What the server refuses as malformed and the document used to call valid (schemathesis's
# positive-data check found each): the document now refuses it too.
MALFORMED = [
    ("/v1/eligibility/card", _with(PIN_CARD, challenge="9F"), "challenge not base64"),
    ("/v1/eligibility/card", _with(PIN_CARD, challenge="AAAA"), "challenge of another size"),
    ("/v1/eligibility/card", _with(PIN_CARD, certificate="me1K=="), "certificate not base64"),
    ("/v1/eligibility/card", _with(PIN_CARD, proof={"signature": "qw="}), "signature not base64"),
    ("/fhir/v1/eligibility/card", _with(PIN_CARD, challenge="VrGsx-C"), "challenge not base64"),
    ("/v1/eligibility/card", _with(PIN_CARD, qualification_confirmation_date="20230229"),
     "a date that is not one"),
    ("/v1/eligibility/insured-number", _with(LOOKUP, qualification_confirmation_date="00000000"),
     "a date that is not one"),
    ("/v1/eligibility/batches", {"entries": [LOOKUP["query"]],
                                 "qualification_confirmation_date": "20240431"},
     "a date that is not one"),
    ("/v1/eligibility/insured-number", _with(LOOKUP, query={"InsurerNumber": "000000"}),
     "都道府県番号 00"),
    ("/v1/eligibility/insured-number", _with(LOOKUP, query={"InsurerNumber": "1a1011"}),
     "not digits"),
    ("/v1/eligibility/insured-number", _with(LOOKUP, query={"InsurerNumber": "0131011"}),
     "7 digits"),
    ("/v1/registrations", _with(PORTAL, consent=False), "no consent"),
    ("/portal/v1/registrations", _with(PORTAL, consent=False), "no consent"),
    ("/portal/v1/registrations", _with(PORTAL, consent=True, proof={"challenge": ""}),
     "an empty challenge"),
    ("/portal/v1/unregister", _with(PORTAL, proof={"certificate": "0mZ"}),
     "certificate not base64"),
    ("/portal/v1/access-history", _with(PORTAL, proof={"signature": "9i40rU1WoCb=="}),
     "signature not base64"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "what"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_what_the_server_refuses_as_malformed_the_document_calls_invalid(
    world: World, path: str, body: dict[str, Any], what: str
) -> None:
    assert not document_accepts(DOCUMENT, path, body), what
    response = world.client.post(path, json=body, headers=world.headers())
    assert response.status_code in (400, 422), response.text
    assert _refusal(response)[0] in ("Q6001", "Q2001", "Q2007")


def test_a_valid_looking_request_is_what_the_document_calls_valid() -> None:
    """The bodies the refusals above start from are valid by the document."""
    for path, body in (("/v1/eligibility/card", PIN_CARD), ("/portal/v1/unregister", PORTAL),
                       ("/v1/eligibility/insured-number", LOOKUP)):  # fmt: skip
        assert document_accepts(DOCUMENT, path, body), path


def _card_body(world: World, label: str, challenge: str) -> dict[str, Any]:
    proof = world.proof(label, challenge)
    return {
        "challenge": challenge,
        "certificate": proof["certificate"],
        "proof": {"method": "pin", "signature": proof["signature"]},
        "consents": {name: True for name in ("limit_application", "specific_diseases",
                                             "medication", "health_checkups", "diagnosis",
                                             "operation")},
    }  # fmt: skip


def _query(number: str, birth: str, **extra: str) -> dict[str, str]:
    return {
        "InsurerNumber": KYOKAI.wire,
        "InsuredIdentificationNumber": number,
        "InsuredBranchNumber": "00",
        "Birthdate": birth,
        **extra,
    }


YAMADA = _query("1001", "19800401", InsuredCardSymbol="記号12")


def test_every_answer_of_a_valid_request_keeps_its_promises(world: World) -> None:
    """One valid request per operation, each answered as documented."""

    def call(path: str, body: Any = None, method: str = "POST") -> int:
        operation = schema[path][method]
        case = operation.Case() if body is None else operation.Case(body=body)
        return validate(case, world)

    def portal_proof(label: str, purpose: str = "portal") -> dict[str, str]:
        return world.proof(label, world.portal_challenge(purpose))

    assert call("/v1/challenges", {"purpose": "check"}) == 200
    assert call("/portal/v1/challenges", {"purpose": "registration"}) == 200
    registration = {"proof": portal_proof("yamada-taro", "registration"), "consent": True}
    assert call("/portal/v1/registrations", registration) == 200
    clinic_registration = {
        "proof": world.proof("ito-mai", world.challenge("registration")),
        "consent": True,
    }
    assert call("/v1/registrations", clinic_registration) == 200
    for label in ("yamada-taro", "ito-mai"):
        assert call("/v1/eligibility/card", _card_body(world, label, world.challenge())) == 200
        assert call("/fhir/v1/eligibility/card", _card_body(world, label, world.challenge())) == 200
    assert call("/v1/eligibility/insured-number", {"query": YAMADA}) == 200
    batch = {"entries": [YAMADA, _query("9999", "20000101")]}
    assert call("/v1/eligibility/batches", batch) == 202
    with world.deps.sessions() as session:
        (number,) = session.scalars(select(Batch.reception_number)).all()
    fetch = schema["/v1/eligibility/batches/{reception_number}"]["GET"]
    in_progress = fetch.Case(path_parameters={"reception_number": number})
    assert validate(in_progress, world) == 200
    batches.work(world.deps)
    assert validate(fetch.Case(path_parameters={"reception_number": number}), world) == 200
    unknown = fetch.Case(path_parameters={"reception_number": "0" * 16})
    assert validate(unknown, world) == 404
    assert call("/portal/v1/access-history", {"proof": portal_proof("yamada-taro")}) == 200
    assert call("/portal/v1/unregister", {"proof": portal_proof("yamada-taro")}) == 200
    assert call("/healthz", method="GET") == 200
    assert call("/readyz", method="GET") == 200


def test_face_checks_keep_their_promises(world: World) -> None:
    world.register("yamada-taro")
    challenge = world.challenge()
    certificate, _ = sign_with_card(world.card("yamada-taro"), challenge)
    message = device_message(
        base64.b64decode(challenge), base64.b64decode(certificate), Method.FACE
    )
    body = {
        "challenge": challenge,
        "certificate": certificate,
        "proof": {
            "method": "face",
            "device_id": "face-1",
            "signature": base64.b64encode(world.device_key.sign(message)).decode(),
        },
    }
    assert validate(CARD.Case(body=body), world) == 200


@pytest.fixture
def tight_server(world: World) -> FastAPI:
    """The world's server with limits small enough to reach: three entries a batch, two
    insured-number lookups a minute."""
    tight = world.deps.settings.model_copy(
        update={"batch_max_entries": 3, "insured_lookups_per_minute": 2}
    )
    return create_app(
        dataclasses.replace(world.deps, settings=tight), seal_interval_s=None, batch_interval_s=None
    )


def test_a_batch_too_large_is_a_documented_answer(world: World, tight_server: FastAPI) -> None:
    entries = [_query(str(9000 + n), "20000101") for n in range(4)]
    case = schema["/v1/eligibility/batches"]["POST"].Case(body={"entries": entries})
    assert validate(case, world, tight_server) == 413


def test_too_many_lookups_is_a_documented_answer(world: World, tight_server: FastAPI) -> None:
    operation = schema["/v1/eligibility/insured-number"]["POST"]
    statuses = [
        validate(operation.Case(body={"query": YAMADA}), world, tight_server) for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
