"""A family under one card number, for lookups without 枝番: card number 7001 (記号 記号70)
of 協会けんぽ held by the insured (枝番 00, born 1980-04-01) and twins (01 and 02, born
2015-05-05)."""

from __future__ import annotations

import datetime as dt

from insurer_registry import db as registry_db
from insurer_registry.insurers.service import get_insurer
from insurer_registry.members.audit import Actor
from insurer_registry.members.codes import (
    ContributionRatio,
    InsuredCardClassification,
    PersonalFamilyClassification,
    Sex,
)
from insurer_registry.members.domain import MemberRecord
from insurer_registry.members.service import register_member
from onshi_kernel.four_items import FourItems, InMemoryResidentRegister
from tests.support.world import KYOKAI, World

FAMILY_NUMBER = "7001"
FAMILY_SYMBOL = "記号70"
TWINS_BORN = dt.date(2015, 5, 5)
TWIN_REFS = ("a1" * 32, "b2" * 32)


def add_family(world: World) -> None:
    """Register the family in the world's registry."""
    members = (
        ("c3" * 32, "00", dt.date(1980, 4, 1), PersonalFamilyClassification.INSURED),
        (TWIN_REFS[0], "01", TWINS_BORN, PersonalFamilyClassification.FAMILY),
        (TWIN_REFS[1], "02", TWINS_BORN, PersonalFamilyClassification.FAMILY),
    )
    with registry_db.transaction(world.registry) as s:
        insurer = get_insurer(session=s, number=KYOKAI)
        for person_ref, branch, born, relation in members:
            record = MemberRecord(  # type: ignore[call-arg]
                number=FAMILY_NUMBER, branch=branch,
                card_classification=InsuredCardClassification.GENERAL,
                personal_family=relation, name="試験　太郎", name_kana="ｼｹﾝ ﾀﾛｳ",
                sex=Sex.MALE, birthdate=born, qualification_date=dt.date(2020, 4, 1),
                contribution_ratio=ContributionRatio.THIRTY_PERCENT, symbol=FAMILY_SYMBOL,
            )  # fmt: skip
            # The issuer knows each of them as the insurer states them.
            known = FourItems(name=record.name, birthdate=born, sex=record.sex.value,
                              name_kana=record.name_kana)  # fmt: skip
            register_member(
                session=s, insurer=insurer, person_ref=person_ref, record=record,
                actor=Actor.operator("tests"),
                register=InMemoryResidentRegister({person_ref: known}),
            )  # fmt: skip
