"""Linkages the portal shows, made in the test world's registry as an insurer would: a
qualification registered for a fixture resident under a name the issuer does not know (held),
and the two users' confirmation that releases it."""

from __future__ import annotations

import datetime as dt

from card_reader.issuance.residents import Resident
from insurer_registry import db as registry_db
from insurer_registry.insurers.service import get_insurer
from insurer_registry.linkage.service import confirm_linkage
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import MemberRecord
from insurer_registry.members.service import correct_member, register_member
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from onshi_kernel.numbers import InsurerNumber
from tests.support.world import KOKUHO, World, resident_register_of

WRONG_NAME = "山田 次郎"  # the insurer's clerk typed another family member's given name


def register_held(
    world: World,
    residents: dict[str, Resident],
    label: str,
    *,
    insurer: InsurerNumber = KOKUHO,
    number: str = "9001",
    name: str = WRONG_NAME,
) -> int:
    """Register a qualification of `label` at `insurer` under `name` (not the issuer's):
    the registry holds it. Returns its qualification id."""
    resident = residents[label]
    record = MemberRecord(  # type: ignore[call-arg]
        number=number, branch="00",
        card_classification=InsuredCardClassification.GENERAL,
        personal_family=PersonalFamilyClassification.INSURED, name=name,
        name_kana=resident.name_kana, sex=Sex(resident.sex), birthdate=resident.birth_date,
        qualification_date=dt.date(2026, 4, 1),
        contribution_ratio=ContributionRatio.THIRTY_PERCENT,
    )  # fmt: skip
    with registry_db.transaction(world.registry) as s:
        member = register_member(
            session=s, insurer=get_insurer(session=s, number=insurer),
            person_ref=person_reference(resident.my_number, DEVELOPMENT_PSEUDONYM_KEY),
            record=record, actor=Actor.operator("tests"),
            register=resident_register_of(residents),
            my_number_last4=resident.my_number[-4:],
        )  # fmt: skip
    return member.id


def confirm_twice(world: World, qualification_id: int, *, insurer: InsurerNumber = KOKUHO) -> None:
    """Two of the insurer's users confirm the held linkage: it is released."""
    for user in ("credential:clerk-1", "credential:clerk-2"):
        with registry_db.transaction(world.registry) as s:
            confirm_linkage(
                session=s, insurer=get_insurer(session=s, number=insurer),
                qualification_id=qualification_id, actor=Actor(label=user),
            )  # fmt: skip


def correct_to(
    world: World,
    residents: dict[str, Resident],
    qualification_id: int,
    label: str,
    *,
    insurer: InsurerNumber = KOKUHO,
) -> None:
    """The insurer corrects the qualification to `label`'s My Number and name (it was theirs):
    the first person's history says it was unlinked."""
    resident = residents[label]
    with registry_db.transaction(world.registry) as s:
        correct_member(
            session=s, insurer=get_insurer(session=s, number=insurer),
            qualification_id=qualification_id, changes={"name": resident.name,
            "name_kana": resident.name_kana, "sex": Sex(resident.sex),
            "birthdate": resident.birth_date},
            actor=Actor.operator("tests"), register=resident_register_of(residents),
            person_ref=person_reference(resident.my_number, DEVELOPMENT_PSEUDONYM_KEY),
            my_number_last4=resident.my_number[-4:],
        )  # fmt: skip
