"""The issuer's resident register (register.json): written on every issue, and rewritten alone
by `card-reader register`, leaving the CAs and the directory byte for byte as they were."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from card_reader.cli import app
from card_reader.issuance.issuer import Issuer, four_items_of
from card_reader.issuance.residents import Resident, load_residents
from onshi_kernel.four_items import (
    FileResidentRegister,
    InMemoryResidentRegister,
    Item,
    Outcome,
    parse_register,
)
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.support.cards import PIN, REPO

RESIDENTS = REPO / "fixtures" / "residents.json"


def ref_of(resident: Resident) -> str:
    return person_reference(resident.my_number, DEVELOPMENT_PSEUDONYM_KEY)


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "register.json"
    }


def test_issuing_writes_the_residents_four_items(tmp_path: Path) -> None:
    people = load_residents(RESIDENTS)
    issuer = Issuer.open(tmp_path / "issuer", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    issuer.issue_card(people[0], pin=PIN)
    entries = parse_register(issuer.register_path.read_text(encoding="utf-8"))
    assert entries == {ref_of(people[0]): four_items_of(people[0])}

    issuer.issue_smartphone(people[1], pin=PIN)
    issuer.issue_card(people[1], pin=PIN)
    entries = parse_register(issuer.register_path.read_text(encoding="utf-8"))
    assert entries == {ref_of(p): four_items_of(p) for p in people[:2]}
    # The register meets the directory on the same person reference.
    assert {e.person_ref for e in issuer.entries()} == set(entries)

    register = FileResidentRegister([issuer.register_path])
    for person in people[:2]:
        result = register.match(ref_of(person), four_items_of(person))
        assert result.matched
        assert result.outcome(Item.ADDRESS) is Outcome.MATCH


def test_the_committed_register_matches_the_residents_and_the_directory() -> None:
    people = load_residents(RESIDENTS)
    root = REPO / "fixtures" / "issuer"
    entries = parse_register((root / "register.json").read_text(encoding="utf-8"))
    assert entries == {ref_of(p): four_items_of(p) for p in people}
    directory = json.loads((root / "directory.json").read_text(encoding="utf-8"))
    assert {e["person_ref"] for e in directory["certificates"]} <= set(entries)
    register = InMemoryResidentRegister(entries)
    assert all(register.match(ref_of(p), four_items_of(p)).matched for p in people)


def test_card_reader_register_rewrites_only_the_register(tmp_path: Path) -> None:
    root = tmp_path / "issuer"
    shutil.copytree(REPO / "fixtures" / "issuer", root)
    (root / "register.json").unlink()
    before = digests(root)

    result = CliRunner().invoke(
        app, ["register", "--residents", str(RESIDENTS), "--out", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "6 residents" in result.output
    assert digests(root) == before
    written = (root / "register.json").read_bytes()
    assert written == (REPO / "fixtures" / "issuer" / "register.json").read_bytes()

    # Again: the same bytes (the file is sorted by person reference).
    again = CliRunner().invoke(app, ["register", "--residents", str(RESIDENTS), "--out", str(root)])
    assert again.exit_code == 0, again.output
    assert (root / "register.json").read_bytes() == written
    assert digests(root) == before


def test_card_reader_register_in_an_empty_directory_makes_no_ca(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    result = CliRunner().invoke(
        app, ["register", "--residents", str(RESIDENTS), "--out", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in root.iterdir()] == ["register.json"]


def test_card_reader_issue_names_the_register(tmp_path: Path) -> None:
    out = tmp_path / "issuer"
    result = CliRunner().invoke(
        app,
        ["issue", "--residents", str(RESIDENTS), "--out", str(out), "--only", "ito-mai"],
    )
    assert result.exit_code == 0, result.output
    assert f"register:        {out / 'register.json'}" in result.output
    assert len(parse_register((out / "register.json").read_text(encoding="utf-8"))) == 1
