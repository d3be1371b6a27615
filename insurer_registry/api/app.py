"""The registry's HTTP application."""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, text

from insurer_registry.api import http_errors
from insurer_registry.api.access_log_queries import redact_access_log_queries
from insurer_registry.db import make_engine, make_session_factory
from insurer_registry.error_codes import RegistryCode
from insurer_registry.errors import RegisterUnavailable
from insurer_registry.importer.routes import router as import_router
from insurer_registry.linkage.routes import router as linkage_router
from insurer_registry.lookup.routes import router as network_router
from insurer_registry.members.routes import router as member_router
from insurer_registry.settings import Settings
from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.docs import install_docs
from onshi_kernel.four_items import FileResidentRegister, ResidentRegister

DESCRIPTION = """
The insurer registry of onshi: insurers register, correct and end the qualifications of
their members; the qualification server looks them up.

* **Insurer API** (`/v1/…`): `Authorization: Bearer ins_…`. An insurer sees and changes only
  its own members. Every write needs an `Idempotency-Key` header (a request id): a retry
  with the same key and body returns the first answer; the same key with another body is
  `409 R3007`.
* **Network API** (`/network/v1/…`): `Authorization: Bearer net_…`, for the qualification
  server (the 情報提供ネットワーク role).

Field names are the element names of the eligibility answer (docs/answer.md); dates are
`YYYYMMDD`. Errors are `{"error": {"code", "message", "message_it", "detail", "request_id",
…}}` with a stable numbered `code` (`R…`: the registry README lists them), a Japanese
`message` for the operator and an English `message_it`, and never repeat submitted values.
"""


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    register: ResidentRegister | None = None,
) -> FastAPI:
    """The application for `settings` (read from the environment when omitted). `engine`
    overrides the one `settings.database_url` would make (tests share theirs); `register`
    the resident register of `settings.resident_register_files`."""
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)
    register = register or FileResidentRegister(settings.resident_register_files)
    # uvicorn's access log writes each request's query as sent: a token put there by
    # mistake would stay in the log.
    redact_access_log_queries()
    app = FastAPI(
        title="onshi insurer registry",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "members", "description": "an insurer's own members"},
            {"name": "imports", "description": "bulk registration from CSV"},
            {
                "name": "linkage",
                "description": "the issuer's four-item match of each registration; held "
                "linkages and their confirmation",
            },
            {"name": "network", "description": "the qualification server's lookup"},
            {"name": "operation", "description": "liveness and readiness"},
        ],
        docs_url=None,  # install_docs: Swagger UI and ReDoc from the package, not a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.engine = engine
    app.state.register = register
    app.state.sessions = make_session_factory(engine)
    app.include_router(member_router)
    app.include_router(linkage_router)
    # The import route documents its own answers but not this one, which every write has.
    app.include_router(
        import_router,
        responses=http_errors.error_responses(
            {400: f"no usable Idempotency-Key header (`{RegistryCode.IDEMPOTENCY_KEY_REQUIRED}`)"}
        ),
    )
    app.include_router(network_router)
    http_errors.install(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=http_errors.MAX_REQUEST_BYTES,
        refuse=http_errors.too_large,
        exempt=("/v1/imports",),  # counts its CSV upload itself, up to its own limit
    )

    @app.get("/healthz", tags=["operation"])
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operation"],
        responses=http_errors.error_responses(
            {
                503: f"the database does not answer (`{RegistryCode.UNAVAILABLE}`), or the "
                f"issuer's resident register is missing or empty "
                f"(`{RegistryCode.REGISTER_UNAVAILABLE}`)"
            }
        ),
    )
    def readyz() -> dict[str, Any]:
        """Readiness: the database answers (else `R9002`, 503, with `Retry-After`) and the
        issuer's resident register knows someone (else `R9003`: every registration would be
        held)."""
        with app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        known = len(register) if isinstance(register, Sized) else None
        if known == 0:
            raise RegisterUnavailable()
        return {"status": "ready", "resident_register": known}

    return app
