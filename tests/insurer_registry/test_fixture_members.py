"""Test and demo members carry InsuredCertificateIssuanceDate and InsuredCardValidDate, as
real insurers' data does: clinic software needs InsuredCardValidDate to create the
patient's insurance record (docs/answer.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select

from card_reader.issuance.residents import Resident
from clinic_client.conformance.kit import PEOPLE
from clinic_client.conformance.kit import _members as kit_members
from insurer_registry.models import Qualification
from scripts.demo import member_rows as demo_members
from tests.support.registry import member_body
from tests.support.world import World

REPO = Path(__file__).resolve().parents[2]
DATES = ("InsuredCertificateIssuanceDate", "InsuredCardValidDate")


def without_dates(rows: list[dict[str, str]]) -> list[str]:
    """The insured numbers of the rows that lack either date."""
    return [row["InsuredIdentificationNumber"] for row in rows if not all(map(row.get, DATES))]


@pytest.mark.parametrize(
    ("file_name", "encoding"), [("members.csv", "utf-8"), ("members-sjis.csv", "cp932")]
)
def test_every_row_of_the_sample_member_files_carries_both_card_dates(
    file_name: str, encoding: str
) -> None:
    with (REPO / "fixtures" / "registry" / file_name).open(encoding=encoding, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and without_dates(rows) == []


def test_every_demo_member_carries_both_card_dates(residents: dict[str, Resident]) -> None:
    assert without_dates(demo_members(residents)) == []


def test_every_conformance_kit_member_carries_both_card_dates() -> None:
    residents = {
        p.label: Resident(
            label=p.label, my_number="123456789018", name=p.name, name_kana=p.kana,
            birth_date=p.birth, sex=p.sex, address="東京都",  # type: ignore[arg-type]
        )
        for p in PEOPLE
    }  # fmt: skip
    assert without_dates(kit_members(residents)) == []


def test_the_api_tests_member_carries_both_card_dates() -> None:
    assert without_dates([member_body(1)]) == []


@pytest.mark.db
def test_every_member_of_the_servers_test_world_carries_both_card_dates(world: World) -> None:
    missing = or_(
        Qualification.certificate_issuance_date.is_(None), Qualification.card_valid_date.is_(None)
    )
    with world.registry() as session:
        assert session.scalar(select(func.count()).select_from(Qualification)) == len(
            world.qualification_ids
        )
        assert session.scalar(select(func.count()).where(missing)) == 0
