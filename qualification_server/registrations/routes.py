"""初回登録 at a clinic's reader or at the portal, its withdrawal, and the person's own view
of who looked at their data (the portal's routes are authenticated by the card itself)."""

from __future__ import annotations

from fastapi import APIRouter

from qualification_server.api.dependencies import ClinicDep, DepsDep
from qualification_server.api.responses import ERRORS
from qualification_server.contract.schemas import (
    AccessHistory,
    PortalRequest,
    RegistrationRequest,
    RegistrationResult,
)
from qualification_server.registrations import portal
from qualification_server.registrations import service as registrations

router = APIRouter()


@router.post("/v1/registrations", responses=ERRORS, tags=["clinic"])
def register_at_clinic(
    deps: DepsDep, who: ClinicDep, body: RegistrationRequest
) -> RegistrationResult:
    """初回登録 at this clinic's reader (card + PIN + consent)."""
    return registrations.register(
        deps, proof=body.proof, consent=body.consent, clinic_code=who.code
    )


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
