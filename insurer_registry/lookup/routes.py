"""The network endpoint: the qualification server asks here with a `net_…` credential."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from insurer_registry.api.deps import NetworkCallerDep, SessionDep
from insurer_registry.api.http_errors import error_responses
from insurer_registry.lookup.local import (
    holders_of,
    person_linkage_history,
    person_qualifications,
)
from insurer_registry.lookup.schemas import (
    ByInsuredNumber,
    ByPerson,
    HoldersBody,
    LinkageHistoryBody,
    NetworkLinkageEntry,
    PersonQualificationsBody,
)
from insurer_registry.members.persons import short_ref

router = APIRouter(prefix="/network/v1", tags=["network"])
log = logging.getLogger(__name__)

ERRORS = error_responses(
    {
        401: "missing, unknown or revoked network credential (`R4001`)",
        422: "the request is malformed; every problem is listed, no values",
    }
)


@router.post(
    "/qualifications/by-person",
    response_model=PersonQualificationsBody,
    responses=ERRORS,
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
    response_model=HoldersBody,
    responses=ERRORS,
    summary="Whoever holds an insured number with this birth date, with their qualifications",
)
def by_insured_number(body: ByInsuredNumber, caller: NetworkCallerDep, session: SessionDep) -> Any:
    """For a lookup without the card: each holder's qualifications, newest first; an empty
    list when nobody holds the number with this birth date (the same answer either way)."""
    insured = body.value()
    found = holders_of(session=session, insured=insured)
    log.info(
        "network %s looked up an insured number of insurer %s (%d holder(s))",
        caller.credential_id,
        insured.insurer_number,
        len(found),
    )
    return HoldersBody.of(found)


@router.post(
    "/linkage/by-person",
    response_model=LinkageHistoryBody,
    responses=ERRORS,
    summary="Which insurers linked the person's number, when, and how the match came out",
)
def linkage_by_person(body: ByPerson, caller: NetworkCallerDep, session: SessionDep) -> Any:
    """The person's linkage history, oldest first (for the person's own portal): item
    names and outcomes, the last 4 digits of the My Number, never a value."""
    entries = person_linkage_history(session=session, person_ref=body.person_ref)
    log.info(
        "network %s read the linkage history of person %s (%d event(s))",
        caller.credential_id,
        short_ref(body.person_ref),
        len(entries),
    )
    return LinkageHistoryBody.model_validate(
        {
            "person_ref": body.person_ref,
            "entries": [NetworkLinkageEntry.of(entry) for entry in entries],
        },
        by_name=True,
    )
