"""The insurer's side of held linkages: the report (which of its registrations are held and
why, item names only) and the confirmation by its users (two distinct ones release it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from insurer_registry.api.deps import (
    IdempotencyKeyDep,
    InsurerCallerDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    caller_insurer,
)
from insurer_registry.api.http_errors import error_responses
from insurer_registry.api.idempotency import StoredAnswer, fingerprint, idempotent_write
from insurer_registry.error_codes import RegistryCode
from insurer_registry.linkage import service
from insurer_registry.linkage.schemas import ConfirmationPublic, HeldMemberPublic, HeldReport
from insurer_registry.members.routes import (
    NOT_FOUND,
    UNAUTHENTICATED,
    QualificationId,
)

router = APIRouter(prefix="/v1", tags=["linkage"])
REPORT_LIMIT_MAX = 1000


@router.get(
    "/linkage/held",
    response_model=HeldReport,
    responses=error_responses({401: UNAUTHENTICATED, 422: "a query parameter out of range"}),
    summary="The report of held linkages",
)
def held_report(
    caller: InsurerCallerDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="page after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=REPORT_LIMIT_MAX)] = 100,
) -> Any:
    """The calling insurer's registrations whose four items did not match the issuer's (or
    that were never matched): each with its insured number, the items that differ and who
    confirmed it so far. Never a value of the items."""
    held = service.held_members(
        session=session, insurer=caller_insurer(caller), limit=limit, after_id=after
    )
    return HeldReport.model_validate(
        {
            "held": [HeldMemberPublic.of(line) for line in held],
            "next_after": held[-1].qualification_id if len(held) == limit else None,
        },
        by_name=True,
    )


@router.post(
    "/members/{qualification_id}/linkage/confirmations",
    response_model=ConfirmationPublic,
    responses=error_responses(
        {
            400: f"no usable Idempotency-Key header (`{RegistryCode.IDEMPOTENCY_KEY_REQUIRED}`)",
            401: UNAUTHENTICATED,
            403: f"not an insurer user (`{RegistryCode.LINKAGE_CONFIRMATION_BY_OPERATOR}`)",
            404: NOT_FOUND,
            409: f"not held (`{RegistryCode.LINKAGE_NOT_HELD}`), confirmed by this user "
            f"already (`{RegistryCode.LINKAGE_ALREADY_CONFIRMED_BY}`), or a reused "
            "Idempotency-Key",
        }
    ),
    summary="Confirm a held linkage",
)
def confirm_linkage(
    qualification_id: QualificationId,
    request: Request,
    caller: InsurerCallerDep,
    key: IdempotencyKeyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> Response:
    """The calling user confirms that the held registration is of the right person, having
    checked it outside the registry. Each confirmation is recorded; the second by a distinct
    credential of the insurer releases it (answered from then on). A correction (PATCH) that
    makes the items match releases it without confirmations."""
    insurer = caller_insurer(caller)

    def work(session: Session) -> StoredAnswer:
        confirmation = service.confirm_linkage(
            session=session,
            insurer=insurer,
            qualification_id=qualification_id,
            actor=caller.actor(key),
        )
        return StoredAnswer(200, ConfirmationPublic.of(confirmation).model_dump_json(by_alias=True))

    answer = idempotent_write(
        sessions=sessions,
        insurer_id=insurer.id,
        key=key,
        request_hash=fingerprint(
            "POST", request.url.path, None, pseudonym_key=settings.pseudonym_bytes
        ),
        work=work,
    )
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")
