"""The qualification server's HTTP API (FastAPI). Thin routes over the service modules.

Clinics authenticate with `Authorization: Bearer <医療機関コード>.<secret>`; the portal's
routes are authenticated by the card itself (a PIN signature over a portal challenge).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from insurer_registry.lookup.local import RegistryQualificationSource
from onshi_kernel.auth_header import MalformedAuthorization, bearer_token
from onshi_kernel.body_limit import BodySizeLimit
from qualification_server import checks, portal, registrations
from qualification_server.challenges import Purpose, issue_challenge
from qualification_server.clinics import ClinicAuthenticator, ClinicIdentity
from qualification_server.contract.schemas import (
    AccessHistory,
    BatchAnswer,
    BatchLookupRequest,
    CardCheckRequest,
    ChallengeRequest,
    ChallengeResponse,
    EligibilityAnswer,
    ErrorResponse,
    InsuredNumberLookupRequest,
    PortalChallengeRequest,
    PortalRequest,
    RegistrationRequest,
    RegistrationResult,
)
from qualification_server.db import make_engine, make_session_factory
from qualification_server.errors import Code, QualificationError
from qualification_server.fhir import coverage_eligibility_response
from qualification_server.housekeeping import Housekeeper
from qualification_server.http_errors import install_error_handlers, too_large
from qualification_server.issuer_directory import FileIssuerDirectory
from qualification_server.service import Dependencies
from qualification_server.settings import Settings
from qualification_server.trust import rollback
from qualification_server.trust.files import TrustStore
from qualification_server.trust.rollback import CrlHighWater

REQUESTS = Counter("onshi_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "onshi_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    413: {"model": ErrorResponse, "description": "a body larger than the server accepts"},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse, "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
}
# Lookups by insured number also meet the rate limits, and a batch may be too large.
LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    413: {"model": ErrorResponse, "description": "a body or a batch larger than allowed"},
    429: {
        "model": ErrorResponse,
        "description": "a rate limit of the clinic reached (Q4002)",
        "headers": {
            "Retry-After": {
                "description": "seconds until the limit's window ends",
                "schema": {"type": "integer"},
            }
        },
    },
}


log = logging.getLogger(__name__)

# Enough connections for every worker thread, with room for the housekeeping thread.
POOL_SIZE = 10


def build_dependencies(settings: Settings) -> Dependencies:
    """Wire the server from its settings."""
    if settings.registry_url:
        from insurer_registry.lookup.http import HttpQualificationSource

        token = settings.registry_token.get_secret_value() if settings.registry_token else ""
        source: RegistryQualificationSource | HttpQualificationSource = (
            HttpQualificationSource.connect(base_url=settings.registry_url, token=token)
        )
    else:
        registry = make_engine(settings.registry_database_url, pool_size=POOL_SIZE)
        if registry.dialect.name == "postgresql":
            # Lookups only read: no BEGIN/ROLLBACK round trips around each one.
            registry = registry.execution_options(isolation_level="AUTOCOMMIT")
        source = RegistryQualificationSource(make_session_factory(registry))
    sessions = make_session_factory(make_engine(settings.database_url, pool_size=POOL_SIZE))
    return Dependencies(
        settings=settings,
        sessions=sessions,
        trust=TrustStore(
            settings.jpki_ca_files,
            settings.jpki_crl_files,
            refuse_test_material=not settings.is_development,
            high_water=_crl_marks_of(sessions),
        ),
        directory=FileIssuerDirectory(
            settings.issuer_directory_files, refuse_test_material=not settings.is_development
        ),
        source=source,
        clock=lambda: dt.datetime.now(dt.UTC),
    )


def _crl_marks_of(sessions: sessionmaker[Session]) -> CrlHighWater:
    """The CRL marks every instance has seen, read before the first CRL is loaded, so that a
    restart does not forget them (the housekeeping keeps them in step afterwards)."""
    marks = CrlHighWater()
    try:
        with sessions() as session, session.begin():
            rollback.sync(session, marks)
    except SQLAlchemyError as exc:
        log.warning(
            "CRL marks not read (%s): until the database answers, this instance knows only "
            "the CRLs it loads itself",
            type(exc).__name__,
        )
    return marks


# Dependencies are `async def` so FastAPI calls them on the event loop: a sync dependency
# costs a hop through the threadpool on every request.
async def get_deps(request: Request) -> Dependencies:
    deps: Dependencies = request.app.state.deps
    return deps


DepsDep = Annotated[Dependencies, Depends(get_deps)]


async def get_clinic(
    request: Request,
    # Declared so the API document names the header; its value is read below from every
    # Authorization header of the request, since two of them are refused.
    authorization: Annotated[str | None, Header()] = None,
) -> ClinicIdentity:
    """The clinic behind `Authorization: Bearer <code>.<secret>` (from memory when it was
    seen lately, else from the database in a worker thread). The header follows
    `onshi_kernel.auth_header`'s rule; any other is Q5001."""
    try:
        token = bearer_token(request.headers.getlist("authorization"))
    except MalformedAuthorization as error:
        raise QualificationError(Code.CLIENT_UNAUTHENTICATED, str(error)) from None
    clinics: ClinicAuthenticator = request.app.state.clinics
    known = clinics.remembered(token)
    if known is not None:
        return known
    return await run_in_threadpool(clinics.authenticate, token)


ClinicDep = Annotated[ClinicIdentity, Depends(get_clinic)]
router = APIRouter()


def _challenge(deps: Dependencies, purpose: Purpose, client: str | None) -> ChallengeResponse:
    issued = issue_challenge(
        key=deps.settings.challenge_key_bytes,
        purpose=purpose,
        client=client,
        now=deps.clock(),
        ttl_s=deps.settings.challenge_ttl_s,
    )
    return ChallengeResponse(
        challenge=base64.b64encode(issued.token).decode(),
        challenge_id=issued.challenge_id,
        expires_at=issued.expires_at,
    )


@router.post("/v1/challenges", responses=ERRORS, tags=["clinic"])
def clinic_challenge(deps: DepsDep, who: ClinicDep, body: ChallengeRequest) -> ChallengeResponse:
    """A one-time challenge for a card check or a registration at this clinic's reader."""
    purpose = Purpose.CHECK if body.purpose == "check" else Purpose.REGISTRATION
    return _challenge(deps, purpose, who.code)


class SpecJSONResponse(Response):
    """An answer model serialised once, absent elements omitted (never null)."""

    media_type = "application/json"

    def __init__(self, model: EligibilityAnswer | BatchAnswer) -> None:
        super().__init__(model.model_dump_json(exclude_none=True))


@router.post(
    "/v1/eligibility/card", responses=ERRORS, tags=["clinic"], response_model=EligibilityAnswer
)
async def card(deps: DepsDep, who: ClinicDep, body: CardCheckRequest) -> SpecJSONResponse:
    """Eligibility of the card holder (PIN, face or visual proof of presence)."""
    return SpecJSONResponse(await checks.card_check(deps, clinic=who, request=body))


@router.post("/fhir/v1/eligibility/card", responses=ERRORS, tags=["clinic"])
async def card_fhir(deps: DepsDep, who: ClinicDep, body: CardCheckRequest) -> dict[str, Any]:
    """The same card check, answered as a FHIR R4B CoverageEligibilityResponse."""
    answer = await checks.card_check(deps, clinic=who, request=body)
    return coverage_eligibility_response(answer)


@router.post(
    "/v1/eligibility/insured-number",
    responses=LOOKUP_ERRORS,
    tags=["clinic"],
    response_model=EligibilityAnswer,
)
def insured_number(
    deps: DepsDep, who: ClinicDep, body: InsuredNumberLookupRequest
) -> SpecJSONResponse:
    """個別照会 by insurer number, 記号, 番号, 枝番 and birth date (no card)."""
    return SpecJSONResponse(checks.insured_number_lookup(deps, clinic=who, request=body))


@router.post(
    "/v1/eligibility/batch", responses=LOOKUP_ERRORS, tags=["clinic"], response_model=BatchAnswer
)
def batch(deps: DepsDep, who: ClinicDep, body: BatchLookupRequest) -> SpecJSONResponse:
    """一括照会 of many insured numbers (e.g. tomorrow's appointments)."""
    return SpecJSONResponse(checks.batch_lookup(deps, clinic=who, request=body))


@router.post("/v1/registrations", responses=ERRORS, tags=["clinic"])
def register_at_clinic(
    deps: DepsDep, who: ClinicDep, body: RegistrationRequest
) -> RegistrationResult:
    """初回登録 at this clinic's reader (card + PIN + consent)."""
    return registrations.register(
        deps, proof=body.proof, consent=body.consent, clinic_code=who.code
    )


@router.post("/portal/v1/challenges", responses=ERRORS, tags=["portal"])
def portal_challenge(deps: DepsDep, body: PortalChallengeRequest) -> ChallengeResponse:
    """A one-time challenge for the portal (registration or viewing the access log)."""
    purpose = Purpose.PORTAL if body.purpose == "portal" else Purpose.REGISTRATION
    return _challenge(deps, purpose, None)


@router.post("/portal/v1/registrations", responses=ERRORS, tags=["portal"])
def register_at_portal(deps: DepsDep, body: RegistrationRequest) -> RegistrationResult:
    """初回登録 through the portal (card + PIN + consent)."""
    return registrations.register(deps, proof=body.proof, consent=body.consent, clinic_code=None)


@router.post("/portal/v1/unregister", responses=ERRORS, tags=["portal"])
def unregister(deps: DepsDep, body: PortalRequest) -> dict[str, bool]:
    """Withdraw the registration (card + PIN)."""
    return {"unregistered": registrations.unregister(deps, proof=body.proof)}


@router.post("/portal/v1/access-history", responses=ERRORS, tags=["portal"])
def access_history(deps: DepsDep, body: PortalRequest) -> AccessHistory:
    """Who looked at my data and when (card + PIN)."""
    return portal.access_history(deps, proof=body.proof)


@router.get("/healthz", tags=["operation"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operation"])
def readyz(deps: DepsDep) -> dict[str, str]:
    """Readiness: the database answers and the trust anchors are loaded."""
    with deps.sessions() as session:
        session.execute(text("SELECT 1"))
    deps.trust.anchors()
    return {"status": "ready"}


@router.get("/metrics", tags=["operation"], include_in_schema=False)
async def metrics() -> Response:
    return Response(await run_in_threadpool(generate_latest), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts requests and their latency per route (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(route).observe(time.perf_counter() - started)
            REQUESTS.labels(route, str(status)).inc()


def create_app(deps: Dependencies, *, seal_interval_s: float | None = 0.5) -> FastAPI:
    """The application over `deps` (see `build_dependencies`). Unless `seal_interval_s` is
    None, a background thread seals the access log at that interval (`Housekeeper`)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in threads; past a few they only contend for the GIL (measured:
        # 40 threads 332/s, 4 threads 454/s per 2 workers; BENCHMARKS.md).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = deps.settings.worker_threads
        # What start-up loaded (the framework, FHIR's thousands of model classes) lives as
        # long as the process: keep it out of the garbage collector's full passes, which
        # otherwise walk it all and stall every request in flight (BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        sealer = (
            None
            if seal_interval_s is None
            else Housekeeper(deps.sessions, seal_interval_s, crl_marks=deps.trust.high_water)
        )
        if sealer is not None:
            sealer.start()
        try:
            await deps.checks.open()
            await deps.source.aopen()
            yield
        finally:
            if sealer is not None:
                await run_in_threadpool(sealer.stop)
            await deps.checks.aclose()
            await deps.source.aclose()

    app = FastAPI(
        title="onshi qualification server",
        version="0.1.0",
        description="Online eligibility verification (オンライン資格確認): card checks with "
        "proof of presence, insured-number lookups, registration and the person's access log.",
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.clinics = ClinicAuthenticator(deps.sessions)
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)
    # A card check is a few kB, a full batch a few hundred: refuse more before reading it.
    app.add_middleware(BodySizeLimit, max_bytes=deps.settings.max_request_bytes, refuse=too_large)
    return app
