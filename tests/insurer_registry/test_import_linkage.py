"""A bulk import matches its rows against the issuer's resident register, set-wise: a row
whose four items differ (a name that is not the issuer's, another person's My Number) or
whose person the issuer does not know is imported but held, reported by line and item name
and never by value, and not answered by the lookup; a corrected file releases it; a
re-import changes nothing; an import that does not commit leaves no qualification and no
linkage event. Issue 17."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from insurer_registry import cli
from insurer_registry.importer import merge
from insurer_registry.importer.schemas import ImportReportPublic
from insurer_registry.importer.service import ImportReport
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.models import LinkageEvent, Qualification
from onshi_kernel.four_items import FourItemMatch, FourItems, Item
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.insurer_registry.test_import import (
    csv_bytes,
    post_csv,
    row,
    run_import,
    write_register,
)
from tests.support.registry import RegisteredInsurer, TestResidents, member_body, my_number

pytestmark = pytest.mark.db

OTHER_NAME, OTHER_KANA = "佐藤　花子", "サトウ　ハナコ"
UNKNOWN = 5000  # the test residents know the persons of row(n) for n < 1000
UNKNOWN_NUMBER = str(5000 + UNKNOWN)  # its insured number


def ref(n: int) -> str:
    return person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY)


def linkage(sessions: sessionmaker[Session], number: str) -> tuple[str, str | None, str | None]:
    """(state, stored outcomes, last 4 digits) of the qualification with this insured number."""
    with sessions() as session:
        q = session.scalars(select(Qualification).where(Qualification.number == number)).one()
        return q.linkage, q.linkage_outcomes, q.my_number_last4


def events(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(LinkageEvent).order_by(LinkageEvent.id))
        return [
            (e.qualification_id, e.event, e.state, e.outcomes, e.my_number_last4, e.actor)
            for e in rows
        ]


def mislinked_file() -> bytes:
    """Line 2 right; line 3 a name that is not the issuer's; line 4 another person's My
    Number (person 3, whom the issuer knows by other items); line 5 a person the issuer does
    not know."""
    return csv_bytes(
        [
            row(1),
            row(2, Name=OTHER_NAME, NameKana=OTHER_KANA),
            row(4, MyNumber=my_number(3)),
            row(UNKNOWN),
        ]
    )


@pytest.fixture
def residents() -> TestResidents:
    residents = TestResidents()
    residents.know(member_body(3, Name="鈴木　一郎", NameKana="スズキ　イチロウ"))
    return residents


VALUES = (
    OTHER_NAME,
    OTHER_KANA,
    "佐藤",
    "鈴木",
    "山田",
    "19800401",
    *(my_number(n) for n in (1, 2, 3, 4, UNKNOWN)),
)


def assert_no_value(text: str) -> None:
    for value in VALUES:
        assert value not in text, "a report of held rows never holds a value"


def test_mislinked_rows_are_imported_held_and_reported_by_line_and_item(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, residents: TestResidents
) -> None:
    report = run_import(sessions, mislinked_file(), register=residents)
    assert (report.inserted, report.rejected, report.held) == (4, 0, 3)
    lines = {h.line: h for h in report.held_lines}
    assert sorted(lines) == [3, 4, 5]
    assert (lines[3].differing, lines[3].person_known) == ((Item.NAME,), True)
    assert (lines[4].differing, lines[4].person_known) == ((Item.NAME,), True)
    assert (lines[5].differing, lines[5].person_known) == (tuple(Item), False)
    assert lines[3].describe() == "Name differs from the issuer's"
    assert lines[5].describe() == "the issuer knows no person with this My Number"
    with sessions() as session:
        ids = {n: i for n, i in session.execute(select(Qualification.number, Qualification.id))}
    assert [lines[n].qualification_id for n in (3, 4, 5)] == [
        ids["5002"],
        ids["5004"],
        ids[UNKNOWN_NUMBER],
    ]
    assert linkage(sessions, "5001") == (
        "matched",
        "Name=match;Birthdate=match;Sex1=match;Address=not_given",
        my_number(1)[-4:],
    )
    assert linkage(sessions, "5002")[:2] == (
        "held",
        "Name=mismatch;Birthdate=match;Sex1=match;Address=not_given",
    )
    assert linkage(sessions, "5004")[2] == my_number(3)[-4:]
    assert linkage(sessions, UNKNOWN_NUMBER)[:2] == ("held", "unknown")
    assert_no_value(repr(report))
    assert_no_value(ImportReportPublic.of(report).model_dump_json(by_alias=True))


def test_every_new_qualification_has_its_linked_event(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, residents: TestResidents
) -> None:
    report = run_import(sessions, mislinked_file(), register=residents)
    found = events(sessions)
    with sessions() as session:
        rows = session.scalars(select(Qualification).order_by(Qualification.id)).all()
        expected = [
            (q.id, "linked", q.linkage, q.linkage_outcomes, q.my_number_last4, "operator:test")
            for q in rows
        ]
        imports = set(session.scalars(select(LinkageEvent.import_id)))
        checked = {q.linkage_checked_at for q in rows}
    assert found == expected
    assert imports == {report.import_id}
    assert None not in checked


def test_held_rows_are_not_answered_by_the_lookup(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, residents: TestResidents
) -> None:
    run_import(sessions, mislinked_file(), register=residents)
    lookup = RegistryQualificationSource(sessions)
    right = lookup.qualifications_of(ref(1))
    assert (len(right.qualifications), right.held) == (1, ())
    for n, differing, known in (
        (2, ("Name",), True),
        (3, ("Name",), True),
        (UNKNOWN, tuple(item.value for item in Item), False),
    ):
        found = lookup.qualifications_of(ref(n))
        assert found.qualifications == ()
        (held,) = found.held
        assert (held.differing, held.person_known) == (differing, known)


def test_a_corrected_file_releases_the_held_row(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, residents: TestResidents
) -> None:
    run_import(sessions, mislinked_file(), register=residents)
    corrected = csv_bytes([row(1), row(2), row(4, MyNumber=my_number(3)), row(UNKNOWN)])
    report = run_import(sessions, corrected, register=residents)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 3)
    # Rows 4 and 5 restate their qualifications identically: still held, not reported.
    assert (report.held, report.held_lines) == (0, ())
    assert linkage(sessions, "5002")[0] == "matched"
    assert linkage(sessions, "5004")[0] == linkage(sessions, UNKNOWN_NUMBER)[0] == "held"
    with sessions() as session:
        q = session.scalars(select(Qualification).where(Qualification.number == "5002")).one()
        history = session.execute(
            select(LinkageEvent.event, LinkageEvent.state, LinkageEvent.import_id)
            .where(LinkageEvent.qualification_id == q.id)
            .order_by(LinkageEvent.id)
        ).all()
    assert [tuple(h) for h in history] == [
        ("linked", "held", q.import_id),
        ("rematched", "matched", report.import_id),
    ]
    assert RegistryQualificationSource(sessions).qualifications_of(ref(2)).held == ()


def test_a_change_that_breaks_the_match_is_held_and_reported(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1)]))
    report = run_import(sessions, csv_bytes([row(1, Birthdate="19800402")]))
    assert (report.updated, report.held) == (1, 1)
    (held,) = report.held_lines
    assert (held.line, held.differing, held.person_known) == (2, (Item.BIRTHDATE,), True)
    assert linkage(sessions, "5001")[0] == "held"


def test_reimporting_a_file_with_held_rows_changes_nothing(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, residents: TestResidents
) -> None:
    run_import(sessions, mislinked_file(), register=residents)
    with sessions() as session:
        before = session.execute(
            select(Qualification.id, Qualification.version, Qualification.linkage,
                   Qualification.linkage_checked_at).order_by(Qualification.id)
        ).all()  # fmt: skip
    before_events = events(sessions)
    again = run_import(sessions, mislinked_file(), register=residents)
    assert (again.inserted, again.updated, again.unchanged, again.held) == (0, 0, 4, 0)
    with sessions() as session:
        after = session.execute(
            select(Qualification.id, Qualification.version, Qualification.linkage,
                   Qualification.linkage_checked_at).order_by(Qualification.id)
        ).all()  # fmt: skip
    assert after == before
    assert events(sessions) == before_events


class CountingRegister:
    """The test residents, counting the calls: the import matches set-wise."""

    def __init__(self, residents: TestResidents) -> None:
        self.residents = residents
        self.batches: list[int] = []

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        raise AssertionError("the import matches a batch at a time")

    def match_many(self, claims: Sequence[tuple[str, FourItems]]) -> list[FourItemMatch]:
        self.batches.append(len(claims))
        return self.residents.match_many(claims)


def test_rows_are_matched_a_batch_at_a_time(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    counting = CountingRegister(TestResidents())
    rows = [row(n) for n in range(1, 8)]
    rows[4] = row(5, Sex1="2")
    report = run_import(sessions, csv_bytes(rows), register=counting, match_batch_rows=3)
    assert counting.batches == [3, 3, 1]
    assert (report.inserted, report.held) == (7, 1)
    assert [(h.line, h.differing) for h in report.held_lines] == [(6, (Item.SEX,))]


def test_an_import_that_fails_before_commit_leaves_no_qualification_and_no_event(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    residents: TestResidents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After the qualifications and their events are inserted, before the transaction ends.
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed")

    monkeypatch.setattr(merge, "held_new", fail)
    with pytest.raises(RuntimeError, match="killed"):
        run_import(sessions, mislinked_file(), register=residents)
    with sessions() as session:
        for model in (Qualification, LinkageEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0


def test_the_api_answers_the_held_rows(
    client: TestClient, insurer_a: RegisteredInsurer, resident_register: TestResidents
) -> None:
    resident_register.forget(my_number(2))
    response = post_csv(client, insurer_a, csv_bytes([row(1), row(2)]), "imp-held")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["Inserted"], body["Rejected"], body["Held"]) == (2, 0, 1)
    (held,) = body["HeldLines"]
    assert held["Line"] == 3
    assert held["PersonKnown"] is False
    assert held["Differing"] == ["Name", "Birthdate", "Sex1", "Address"]
    assert held["Reason"] == "the issuer knows no person with this My Number"
    assert body["HeldLinesTruncated"] is False
    assert_no_value(response.text)


# --- from the command line --------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("ONSHI_PSEUDONYM_KEY", raising=False)
    register = write_register(tmp_path / "register.json")
    monkeypatch.setenv("ONSHI_RESIDENT_REGISTER_FILES", json.dumps([str(register)]))
    return CliRunner()


def test_cli_reports_each_held_line_and_counts_them(
    cli_env: CliRunner, insurer_a: RegisteredInsurer, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(1), row(2, Name=OTHER_NAME, Sex1="2"), row(3), row(UNKNOWN)]))
    result = cli_env.invoke(cli.app, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported: 4 rows (utf-8), 4 inserted, 0 updated, 0 unchanged, 0 rejected, 2 held" in (
        result.output
    )
    held = [line for line in result.output.splitlines() if ": held: " in line]
    assert [line.split(" (qualification ")[0] for line in held] == [
        "line 3: held: Name, Sex1 differ from the issuer's",
        "line 5: held: the issuer knows no person with this My Number",
    ]
    assert_no_value(result.output)


def test_cli_writes_held_lines_to_the_report_file(
    cli_env: CliRunner, insurer_a: RegisteredInsurer, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(1), row(2, Birthdate="19800402")]))
    report = tmp_path / "report.txt"
    result = cli_env.invoke(cli.app, ["import", str(path), "--report", str(report)])
    assert result.exit_code == 0, result.output
    (line,) = report.read_text(encoding="utf-8").splitlines()
    assert line.startswith("line 3: held: Birthdate differs from the issuer's (qualification ")


def test_cli_migrate_matches_pending_linkages(
    cli_env: CliRunner, sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1), row(UNKNOWN)]))
    with sessions.begin() as session:  # as stored before matching existed
        session.execute(
            update(Qualification).values(
                linkage="pending", linkage_outcomes=None, linkage_checked_at=None
            )
        )
    result = cli_env.invoke(cli.app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "matched 2 pending linkage(s)" in result.output
    assert linkage(sessions, "5001")[0] == "matched"
    assert linkage(sessions, UNKNOWN_NUMBER)[:2] == ("held", "unknown")
    again = cli_env.invoke(cli.app, ["migrate"])
    assert "matched 0 pending linkage(s)" in again.output


def test_report_of_a_refused_file_holds_no_held_rows(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    from tests.insurer_registry.test_import import rejected

    report: ImportReport = rejected(sessions, csv_bytes([row(UNKNOWN), row(2, Birthdate="x")]))
    assert (report.committed, report.held, report.held_lines) == (False, 0, ())
