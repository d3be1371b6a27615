"""The network endpoint: the qualification server asks here with a `net_…` credential."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from insurer_registry.api.deps import NetworkCallerDep, SessionDep
from insurer_registry.api.http_errors import error_responses
from insurer_registry.lookup.local import holder_of, person_qualifications
from insurer_registry.lookup.schemas import ByInsuredNumber, ByPerson, PersonQualificationsBody
from insurer_registry.members.persons import short_ref
from onshi_kernel.numbers import InsurerNumber

router = APIRouter(prefix="/network/v1", tags=["network"])
log = logging.getLogger(__name__)

ERRORS = error_responses(
    {
        401: "missing, unknown or revoked network credential (`invalid_credential`)",
        404: "nobody holds this insured number (`insured_number_not_found`)",
        422: "the request is malformed; every problem is listed, no values",
    }
)
BY_PERSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: ERRORS[status] for status in (401, 422)
}


@router.post(
    "/qualifications/by-person",
    response_model=PersonQualificationsBody,
    responses=BY_PERSON_ERRORS,
    summary="A person's qualifications at every insurer, history included",
)
def by_person(body: ByPerson, caller: NetworkCallerDep, session: SessionDep) -> Any:
    """Every qualification of the person, newest first; an empty list when none."""
    found = person_qualifications(session=session, person_ref=body.person_ref)
    log.info(
        "network %s looked up person %s (%d qualification(s))",
        caller.credential_id,
        short_ref(body.person_ref),
        len(found.qualifications),
    )
    return PersonQualificationsBody.of(found)


@router.post(
    "/qualifications/by-insured-number",
    response_model=PersonQualificationsBody,
    responses=ERRORS,
    summary="The qualifications of whoever holds an insured number",
)
def by_insured_number(body: ByInsuredNumber, caller: NetworkCallerDep, session: SessionDep) -> Any:
    """For a lookup without the card: the holder's qualifications, newest first."""
    insurer_number = InsurerNumber.parse(body.insurer_number)
    person_ref = holder_of(
        session=session,
        insurer_number=insurer_number,
        symbol=body.symbol,
        number=body.number,
        branch=body.branch,
    )
    log.info(
        "network %s looked up an insured number of insurer %s",
        caller.credential_id,
        insurer_number,
    )
    return PersonQualificationsBody.of(
        person_qualifications(session=session, person_ref=person_ref)
    )
