"""What every flow is given (`Dependencies`: settings, sessions, trust, the issuer directory,
the registry's lookup port, the clock), and the routes' dependencies: the wiring itself and
the calling clinic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from onshi_kernel.auth_header import MalformedAuthorization, bearer_token
from qualification_server.access_log.checkpoints import LogIdentity, load_signer
from qualification_server.access_log.receipts import ReceiptSigner
from qualification_server.cards.check_record import CheckRecorder
from qualification_server.clinics.service import ClinicAuthenticator, ClinicIdentity
from qualification_server.errors import Code, QualificationError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from insurer_registry.lookup.types import QualificationSource
    from qualification_server.settings import Settings
    from qualification_server.trust.files import TrustStore
    from qualification_server.trust.issuer_directory import IssuerDirectory


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    sessions: sessionmaker[Session]
    trust: TrustStore
    directory: IssuerDirectory
    source: QualificationSource
    clock: Callable[[], dt.datetime]

    @cached_property
    def checks(self) -> CheckRecorder:
        """The card checks' one-step recording, on the sessions' engine."""
        engine: Engine = self.sessions.kw["bind"]
        return CheckRecorder(engine)

    @cached_property
    def log_identity(self) -> LogIdentity:
        """The access log's origin and key (checkpoints and receipts)."""
        return LogIdentity(self.settings.log_origin, load_signer(self.settings))

    @cached_property
    def receipts(self) -> ReceiptSigner:
        """Signs the receipts that answers carry for the records they made."""
        return ReceiptSigner(self.log_identity)


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
