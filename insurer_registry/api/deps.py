"""FastAPI dependencies: settings, sessions and the authenticated caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.api.idempotency import validate_key
from insurer_registry.errors import AuthenticationFailed
from insurer_registry.insurers.authentication import authenticate
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import Caller, InsurerInfo
from insurer_registry.settings import Settings
from onshi_kernel.auth_header import MalformedAuthorization, bearer_token
from onshi_kernel.four_items import ResidentRegister

_bearer = HTTPBearer(auto_error=False, description="`ins_…` (insurer) or `net_…` (network)")


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_sessions(request: Request) -> sessionmaker[Session]:
    """The application's session factory (for writes that manage their own transaction)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def get_register(request: Request) -> ResidentRegister:
    """The issuer's resident register every registration is matched against."""
    register: ResidentRegister = request.app.state.register
    return register


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegisterDep = Annotated[ResidentRegister, Depends(get_register)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_session(sessions: SessionsDep) -> Iterator[Session]:
    """A session for one read-only request."""
    with sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
# `_bearer` puts the scheme in the API document; the header itself is read by
# `auth_header`'s rule, from every Authorization header of the request (two are refused).
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _caller(sessions: sessionmaker[Session], request: Request, kind: CredentialKind) -> Caller:
    try:
        token = bearer_token(request.headers.getlist("authorization"))
    except MalformedAuthorization as error:
        raise AuthenticationFailed(str(error)) from None
    with sessions() as session:
        caller = authenticate(session=session, token=token, kind=kind)
    # For the refusal's log line (`http_errors.caller_of`): who was refused, never the secret.
    insurer = caller.insurer
    request.state.caller_label = (
        insurer.number.digits if insurer is not None else f"network:{caller.credential_id}"
    )
    return caller


def get_insurer_caller(sessions: SessionsDep, request: Request, _documented: BearerDep) -> Caller:
    """The insurer whose credential came with the request."""
    return _caller(sessions, request, CredentialKind.INSURER)


def get_network_caller(sessions: SessionsDep, request: Request, _documented: BearerDep) -> Caller:
    """The network client whose credential came with the request."""
    return _caller(sessions, request, CredentialKind.NETWORK)


InsurerCallerDep = Annotated[Caller, Depends(get_insurer_caller)]
NetworkCallerDep = Annotated[Caller, Depends(get_network_caller)]


def caller_insurer(caller: Caller) -> InsurerInfo:
    """The insurer of an insurer caller."""
    if caller.insurer is None:  # authenticate() never lets a network credential through here
        raise AuthenticationFailed("not an insurer credential")
    return caller.insurer


def get_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="a request id chosen by the client; a retry with it changes nothing",
        ),
    ] = None,
) -> str:
    """The request id of a write."""
    return validate_key(idempotency_key)


IdempotencyKeyDep = Annotated[str, Depends(get_idempotency_key)]
