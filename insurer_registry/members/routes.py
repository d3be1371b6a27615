"""The member API: thin routes over `members.service`. Writes are idempotent under the
`Idempotency-Key` header (see `idempotency`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from insurer_registry.api.deps import (
    IdempotencyKeyDep,
    InsurerCallerDep,
    RegisterDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    caller_insurer,
)
from insurer_registry.api.http_errors import error_responses
from insurer_registry.api.idempotency import StoredAnswer, fingerprint, idempotent_write
from insurer_registry.error_codes import RegistryCode
from insurer_registry.linkage.state import last_four
from insurer_registry.members import service
from insurer_registry.members.domain import INSURER_NUMBER_ELEMENT, FieldProblem, InvalidRecord
from insurer_registry.members.schemas import (
    ChangePublic,
    History,
    LossRecord,
    MemberCorrection,
    MemberCreate,
    MemberList,
    MemberPublic,
    MemberSearchBody,
)
from onshi_kernel.mynumber import person_reference
from onshi_kernel.numbers import InsurerNumber

router = APIRouter(prefix="/v1", tags=["members"])

UNAUTHENTICATED = f"missing, unknown or revoked credential (`{RegistryCode.INVALID_CREDENTIAL}`)"
NOT_FOUND = (
    f"no such qualification at the calling insurer (`{RegistryCode.QUALIFICATION_NOT_FOUND}`)"
)
INVALID = "the request breaks a rule; every problem is listed, no values"
WRITE_ERRORS = error_responses(
    {
        400: f"no usable Idempotency-Key header (`{RegistryCode.IDEMPOTENCY_KEY_REQUIRED}`)",
        401: UNAUTHENTICATED,
        404: NOT_FOUND,
        409: "conflicts with registered data, or a reused Idempotency-Key",
        422: INVALID,
    }
)
CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: WRITE_ERRORS[status] for status in (400, 401, 409, 422)
}
READ_ERRORS = error_responses({401: UNAUTHENTICATED, 404: NOT_FOUND, 422: INVALID})
SEARCH_ERRORS = error_responses({401: UNAUTHENTICATED, 422: INVALID})
# Qualification ids are 32-bit integers in the database: a larger one names nothing.
QualificationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _answer(model: BaseModel, status_code: int = 200) -> StoredAnswer:
    return StoredAnswer(status_code, model.model_dump_json(by_alias=True))


def _reply(answer: StoredAnswer) -> Response:
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")


def _payload(body: BaseModel) -> Any:
    return body.model_dump(mode="json", by_alias=True, exclude_unset=True)


@router.post(
    "/members",
    status_code=201,
    response_model=MemberPublic,
    responses=CREATE_ERRORS,
    summary="Register a qualification (資格取得)",
)
def register_member(
    body: MemberCreate,
    request: Request,
    caller: InsurerCallerDep,
    key: IdempotencyKeyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    register: RegisterDep,
) -> Response:
    """Register a member of the calling insurer. The My Number becomes the person reference
    here and goes no further (its last 4 digits stay, for the person's own view). The four
    items are matched against the issuer's: a mismatch is registered but held (`Linkage`)."""
    insurer = caller_insurer(caller)
    if body.insurer_number is not None and InsurerNumber.parse(body.insurer_number) != (
        insurer.number
    ):
        raise InvalidRecord(
            [FieldProblem(INSURER_NUMBER_ELEMENT, "not the insurer of this credential")]
        )
    record = body.record()
    person_ref = person_reference(body.my_number, settings.pseudonym_bytes)

    def work(session: Session) -> StoredAnswer:
        member = service.register_member(
            session=session,
            insurer=insurer,
            person_ref=person_ref,
            record=record,
            actor=caller.actor(key),
            register=register,
            my_number_last4=last_four(body.my_number),
        )
        return _answer(MemberPublic.of(member), 201)

    return _reply(
        idempotent_write(
            sessions=sessions,
            insurer_id=insurer.id,
            key=key,
            request_hash=fingerprint(
                "POST", request.url.path, _payload(body), pseudonym_key=settings.pseudonym_bytes
            ),
            work=work,
        )
    )


@router.patch(
    "/members/{qualification_id}",
    response_model=MemberPublic,
    responses=WRITE_ERRORS,
    summary="Correct a qualification",
)
def correct_member(
    qualification_id: QualificationId,
    body: MemberCorrection,
    request: Request,
    caller: InsurerCallerDep,
    key: IdempotencyKeyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    register: RegisterDep,
) -> Response:
    """Change the fields sent; `Version`, when sent, must be the record's current version.
    A change of the four items or the My Number is matched again: a held linkage whose
    correction matches is released."""
    insurer = caller_insurer(caller)
    changes = body.changes()
    person_ref = (
        person_reference(body.my_number, settings.pseudonym_bytes) if body.my_number else None
    )

    def work(session: Session) -> StoredAnswer:
        member = service.correct_member(
            session=session,
            insurer=insurer,
            qualification_id=qualification_id,
            changes=changes,
            person_ref=person_ref,
            my_number_last4=last_four(body.my_number) if body.my_number else None,
            expected_version=body.expected_version,
            actor=caller.actor(key),
            register=register,
        )
        return _answer(MemberPublic.of(member))

    return _reply(
        idempotent_write(
            sessions=sessions,
            insurer_id=insurer.id,
            key=key,
            request_hash=fingerprint(
                "PATCH", request.url.path, _payload(body), pseudonym_key=settings.pseudonym_bytes
            ),
            work=work,
        )
    )


@router.post(
    "/members/{qualification_id}/loss",
    response_model=MemberPublic,
    responses=WRITE_ERRORS,
    summary="Record the loss of a qualification (資格喪失)",
)
def record_loss(
    qualification_id: QualificationId,
    body: LossRecord,
    request: Request,
    caller: InsurerCallerDep,
    key: IdempotencyKeyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> Response:
    """End a qualification: DisqualificationDate is the first day without it."""
    insurer = caller_insurer(caller)

    def work(session: Session) -> StoredAnswer:
        member = service.record_loss(
            session=session,
            insurer=insurer,
            qualification_id=qualification_id,
            loss_date=body.loss_date,
            reason=body.reason,
            actor=caller.actor(key),
        )
        return _answer(MemberPublic.of(member))

    return _reply(
        idempotent_write(
            sessions=sessions,
            insurer_id=insurer.id,
            key=key,
            request_hash=fingerprint(
                "POST", request.url.path, _payload(body), pseudonym_key=settings.pseudonym_bytes
            ),
            work=work,
        )
    )


@router.get(
    "/members/{qualification_id}",
    response_model=MemberPublic,
    responses=READ_ERRORS,
    summary="Read a qualification",
)
def get_member(
    qualification_id: QualificationId, caller: InsurerCallerDep, session: SessionDep
) -> Any:
    """One of the calling insurer's qualifications."""
    member = service.get_member(
        session=session, insurer=caller_insurer(caller), qualification_id=qualification_id
    )
    return MemberPublic.of(member)


@router.post(
    "/members/search",
    response_model=MemberList,
    responses=SEARCH_ERRORS,
    summary="Search the calling insurer's qualifications",
)
def search_members(
    body: MemberSearchBody, caller: InsurerCallerDep, session: SessionDep, settings: SettingsDep
) -> Any:
    """Criteria go in the body (POST) so that no personal data appears in a URL."""
    person_ref = (
        person_reference(body.my_number, settings.pseudonym_bytes) if body.my_number else None
    )
    criteria = service.MemberSearch(
        symbol=body.symbol,
        number=body.number,
        branch=body.branch,
        person_ref=person_ref,
        name_kana=body.name_kana,
        birthdate=body.birthdate,
        valid_on=body.valid_on,
        limit=body.limit,
    )
    members = service.search_members(
        session=session, insurer=caller_insurer(caller), criteria=criteria
    )
    return MemberList.model_validate(
        {"members": [MemberPublic.of(member) for member in members]}, by_name=True
    )


@router.get(
    "/members/{qualification_id}/history",
    response_model=History,
    responses=READ_ERRORS,
    summary="The change history of a qualification",
)
def member_history(
    qualification_id: QualificationId, caller: InsurerCallerDep, session: SessionDep
) -> Any:
    """Who changed which fields, and when, oldest first."""
    changes = service.member_history(
        session=session, insurer=caller_insurer(caller), qualification_id=qualification_id
    )
    return History.model_validate(
        {"qualification_id": qualification_id, "changes": [ChangePublic.of(c) for c in changes]},
        by_name=True,
    )
