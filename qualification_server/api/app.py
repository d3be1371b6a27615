"""The qualification server's HTTP API (FastAPI): the wiring (`build_dependencies`), the
application with its middleware and error mapping, the operation routes; each domain
(cards, lookups, reference numbers, registrations) brings its own thin routes over its service.

Clinics authenticate with `Authorization: Bearer <医療機関コード>.<secret>`; the portal's
routes are authenticated by the card itself (a PIN signature over a portal challenge).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from insurer_registry.lookup.local import RegistryQualificationSource
from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.docs import install_docs
from qualification_server.access_log import routes as access_log_routes
from qualification_server.access_log.checkpoints import Checkpointer
from qualification_server.access_log.housekeeping import Housekeeper
from qualification_server.api.dependencies import Dependencies, DepsDep
from qualification_server.api.errors import install_error_handlers, too_large
from qualification_server.cards import routes as cards_routes
from qualification_server.clinics.service import ClinicAuthenticator
from qualification_server.contract.codes import Code
from qualification_server.contract.schemas import ErrorResponse
from qualification_server.db import make_engine, make_session_factory
from qualification_server.errors import QualificationError
from qualification_server.lookups import routes as lookups_routes
from qualification_server.lookups.batches import BatchWorker
from qualification_server.reference_numbers import routes as reference_numbers_routes
from qualification_server.registrations import routes as registrations_routes
from qualification_server.settings import Settings
from qualification_server.trust import rollback
from qualification_server.trust.files import TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory
from qualification_server.trust.readiness import crl_problems
from qualification_server.trust.rollback import CrlHighWater

REQUESTS = Counter("onshi_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "onshi_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


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
            smartphone_ca_files=settings.jpki_smartphone_ca_files,
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


router = APIRouter()  # the operation routes; each domain brings its own


@router.get("/healthz", tags=["operation"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["operation"],
    responses={503: {"model": ErrorResponse, "description": "not ready: Q9002 or Q1006"}},
)
def readyz(deps: DepsDep) -> dict[str, str]:
    """Readiness: the database answers (else Q9002), the trust anchors are loaded and every
    CA's CRL is there and current (else Q1006, 503, naming each CA: every card check of its
    cards would fail closed)."""
    with deps.sessions() as session:
        session.execute(text("SELECT 1"))
    problems = crl_problems(deps.trust.anchors(), deps.clock())
    if problems:
        raise QualificationError(Code.REVOCATION_UNAVAILABLE, "; ".join(problems))
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


def create_app(
    deps: Dependencies,
    *,
    seal_interval_s: float | None = 0.5,
    batch_interval_s: float | None = 0.2,
) -> FastAPI:
    """The application over `deps` (see `build_dependencies`). Unless `seal_interval_s` is
    None, a background thread seals the access log at that interval (`Housekeeper`); unless
    `batch_interval_s` is None, another looks up the batches waiting (`BatchWorker`)."""

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
            else Housekeeper(
                deps.sessions,
                seal_interval_s,
                crl_marks=deps.trust.high_water,
                checkpoints=Checkpointer.from_settings(deps.sessions, deps.settings),
            )
        )
        if sealer is not None:
            sealer.start()
        batch_worker = None if batch_interval_s is None else BatchWorker(deps, batch_interval_s)
        if batch_worker is not None:
            batch_worker.start()
        try:
            await deps.checks.open()
            await deps.source.aopen()
            yield
        finally:
            if batch_worker is not None:
                await run_in_threadpool(batch_worker.stop)
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
        docs_url=None,  # install_docs: Swagger UI and ReDoc from the package, not a CDN
        redoc_url=None,
    )
    cards_routes.add_card_checks(app)  # first: the hot path's routes are tried first
    install_docs(app)
    app.state.deps = deps
    app.state.clinics = ClinicAuthenticator(deps.sessions)
    install_error_handlers(app)
    for routes in (
        cards_routes.router,
        lookups_routes.router,
        reference_numbers_routes.router,
        registrations_routes.router,
        access_log_routes.router,
        router,
    ):
        app.include_router(routes)
    app.add_middleware(MetricsMiddleware)
    # A card check is a few kB, a full batch a few hundred: refuse more before reading it.
    app.add_middleware(BodySizeLimit, max_bytes=deps.settings.max_request_bytes, refuse=too_large)
    return app
