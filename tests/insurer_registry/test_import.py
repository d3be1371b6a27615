"""Bulk registration from CSV: encodings, all-or-nothing, every rejection with its line,
re-imports that change nothing, changes that are logged, the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from insurer_registry import cli
from insurer_registry.db import transaction
from insurer_registry.error_codes import RegistryCode
from insurer_registry.importer.service import ImportRejected, ImportReport, import_csv
from insurer_registry.insurers.service import InsurerInfo
from insurer_registry.members.audit import Actor
from insurer_registry.models import ChangeLogEntry, Import, Person, Qualification
from insurer_registry.models import SpecificDiseaseCertificate as CertificateRow
from onshi_kernel.four_items import register_document
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.support.registry import (
    INSURER_A,
    INSURER_B,
    KNOWN_BY_DEFAULT,
    RegisteredInsurer,
    TestResidents,
    Writer,
    four_items_of_body,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "registry"
COLUMNS = [
    "InsurerNumber",
    "MyNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "InsuredCardClassification",
    "PersonalFamilyClassification",
    "Name",
    "NameKana",
    "Sex1",
    "Birthdate",
    "QualificationDate",
    "DisqualificationDate",
    "ReasonOfLoss",
    "InsuredPartialContributionRatio",
]


def row(n: int, **overrides: str) -> dict[str, str]:
    """A valid CSV row for member `n` of insurer A."""
    values = {
        "InsurerNumber": INSURER_A,
        "MyNumber": my_number(n),
        "InsuredCardSymbol": "東京",
        "InsuredIdentificationNumber": f"{5000 + n}",
        "InsuredBranchNumber": "00",
        "InsuredCardClassification": "01",
        "PersonalFamilyClassification": "1",
        "Name": "山田　太郎",
        "NameKana": "ヤマダ　タロウ",
        "Sex1": "1",
        "Birthdate": "19800401",
        "QualificationDate": "20200401",
        "DisqualificationDate": "",
        "ReasonOfLoss": "",
        "InsuredPartialContributionRatio": "030",
    }
    values.update(overrides)
    return values


def csv_bytes(rows: list[dict[str, str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def run_import(
    sessions: sessionmaker[Session],
    data: bytes,
    *,
    insurer: InsurerInfo | None = None,
    partial: bool = False,
    register: Any = None,
    **kw: Any,
) -> ImportReport:
    """Import `data` as the operator, matched against `register` (by default the test
    residents: the persons of `row(n)` for n < 1000)."""
    with transaction(sessions) as session:
        return import_csv(
            session=session,
            source=io.BytesIO(data),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            actor=Actor.operator("test"),
            register=register if register is not None else TestResidents(),
            insurer=insurer,
            partial=partial,
            **kw,
        )


def write_register(path: Path, numbers: range = range(KNOWN_BY_DEFAULT)) -> Path:
    """A resident register file knowing the persons of `row(n)` for n in `numbers` with the
    four items `row` gives them (the command line reads the register from files)."""
    items = four_items_of_body(member_body(0))
    entries = {person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY): items for n in numbers}
    path.write_text(json.dumps(register_document(entries), ensure_ascii=False), encoding="utf-8")
    return path


def rejected(sessions: sessionmaker[Session], data: bytes, **kw: Any) -> ImportReport:
    with pytest.raises(ImportRejected) as raised:
        run_import(sessions, data, **kw)
    return raised.value.report


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def snapshot(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(Qualification).order_by(Qualification.id))
        return [
            (q.id, q.version, q.updated_at, q.name, q.disqualification_date, q.import_id)
            for q in rows
        ]


def reasons(report: ImportReport) -> dict[int, str]:
    return {r.line: r.reason for r in report.rejections}


@pytest.fixture
def all_insurers(
    insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    from tests.support.registry import INSURER_C, _register

    _register(sessions, INSURER_C, "東京都後期高齢者医療広域連合")


def test_the_sample_file_imports(sessions: sessionmaker[Session], all_insurers: None) -> None:
    report = run_import(sessions, (FIXTURES / "members.csv").read_bytes())
    assert (report.rows, report.inserted, report.rejected, report.committed) == (6, 6, 0, True)
    assert report.encoding == "utf-8"
    with sessions() as session:
        kokuho = session.scalars(select(Qualification).where(Qualification.number == "98765"))
        only = kokuho.one()
        assert (only.symbol, only.branch, only.insurer.number) == ("ＡＢ", "01", INSURER_B)
        assert only.limit_classification == "03"
        assert only.import_id == report.import_id


def test_shift_jis_file_imports_the_same_members_as_utf8(
    sessions: sessionmaker[Session], all_insurers: None
) -> None:
    sjis = run_import(sessions, (FIXTURES / "members-sjis.csv").read_bytes())
    assert (sjis.encoding, sjis.inserted) == ("cp932", 6)
    utf8 = run_import(sessions, (FIXTURES / "members.csv").read_bytes())
    assert (utf8.inserted, utf8.updated, utf8.unchanged) == (0, 0, 6)


def test_shift_jis_names_are_read_correctly(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(1, Name="髙橋　﨑子", NameKana="タカハシ　サキコ")], "cp932")
    run_import(sessions, data)
    with sessions() as session:
        assert session.scalar(select(Qualification.name)) == "髙橋　﨑子"


def test_reimporting_the_same_file_changes_nothing(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(n) for n in range(1, 6)])
    first = run_import(sessions, data)
    before = snapshot(sessions), count(sessions, Import), count(sessions, ChangeLogEntry)
    again = run_import(sessions, data)
    after = snapshot(sessions), count(sessions, Import), count(sessions, ChangeLogEntry)
    assert first.inserted == 5
    assert (again.inserted, again.updated, again.unchanged, again.import_id) == (0, 0, 5, None)
    assert after == before


def test_a_bad_row_in_the_middle_imports_nothing(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    rows = [row(n) for n in range(1, 6)]
    rows[2]["Birthdate"] = "19800231"
    report = rejected(sessions, csv_bytes(rows))
    assert (report.rows, report.rejected, report.committed) == (5, 1, False)
    assert reasons(report) == {4: "Birthdate: not a calendar date"}
    assert count(sessions, Qualification) == 0
    assert count(sessions, Person) == 0
    assert count(sessions, Import) == 0


def test_a_name_with_a_control_or_format_character_is_rejected_on_its_line(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    rows = [row(1), row(2, Name="山田\u202e太郎"), row(3, NameKana="ヤマダ\ufeffタロウ")]
    report = rejected(sessions, csv_bytes(rows))
    assert reasons(report) == {
        3: "Name: contains U+202E (a control or format character)",
        4: "NameKana: contains U+FEFF (a control or format character)",
    }
    assert count(sessions, Qualification) == 0


def test_partial_import_keeps_the_good_rows(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    rows = [row(n) for n in range(1, 6)]
    rows[2]["MyNumber"] = "123456789012"
    report = run_import(sessions, csv_bytes(rows), partial=True)
    assert (report.inserted, report.rejected, report.committed) == (4, 1, True)
    assert reasons(report) == {4: "MyNumber: check digit does not match"}
    assert count(sessions, Qualification) == 4


def test_every_rejected_row_is_reported_with_its_line_and_reason(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    rows = [
        row(1),  # line 2: fine
        row(2, InsurerNumber="06130010"),  # 3: bad check digit
        row(3, InsurerNumber="01130012"),  # 4: not registered
        row(4, InsuredBranchNumber="1"),  # 5
        row(1),  # 6: the same as line 2
        row(5, InsuredIdentificationNumber="5001", QualificationDate="20220101"),  # 7
        row(1, InsuredIdentificationNumber="7777", QualificationDate="20230101"),  # 8
        row(6, InsuredBranchNumber="001", NameKana="YAMADA"),  # 9: two problems
    ]
    seen: list[int] = []
    report = rejected(sessions, csv_bytes(rows), on_rejection=lambda r: seen.append(r.line))
    found = reasons(report)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9]
    assert sorted(seen) == [3, 4, 5, 6, 7, 8, 9]
    assert found[3] == "InsurerNumber: check digit does not match"
    assert found[4] == "InsurerNumber: insurer not registered"
    assert found[5].startswith("InsuredBranchNumber")
    assert found[6] == "the same qualification as line 2"
    assert found[7] == "the insured number is given for another person on line 2"
    assert found[8] == "the period overlaps line 2"
    assert found[9] == (
        "NameKana: katakana (full- or half-width) or hiragana, and spaces only; "
        "InsuredBranchNumber: expected 2 digits (leading zeros kept)"
    )


def test_rows_that_contradict_the_registry_are_rejected(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1)]))
    rows = [
        row(2, InsuredIdentificationNumber="5001", QualificationDate="20230101"),
        row(1, InsuredIdentificationNumber="8888", QualificationDate="20220101"),
    ]
    found = reasons(rejected(sessions, csv_bytes(rows)))
    assert found[2].startswith("the insured number belongs to another person")
    assert found[3].startswith("the period overlaps qualification")


def test_a_file_may_end_a_qualification_and_start_the_next(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1)]))
    rows = [
        row(1, DisqualificationDate="20230401", ReasonOfLoss="99"),
        row(1, InsuredIdentificationNumber="8888", QualificationDate="20230401"),
    ]
    report = run_import(sessions, csv_bytes(rows))
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)


def test_a_changed_row_is_a_logged_correction_that_keeps_certificates(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    first = run_import(sessions, csv_bytes([row(1), row(2)]))
    with transaction(sessions) as session:
        qualification = session.scalars(
            select(Qualification).where(Qualification.number == "5001")
        ).one()
        qualification.specific_diseases.append(
            CertificateRow(category="2", valid_start=qualification.qualification_date)
        )
    rows = [row(1, DisqualificationDate="20240401", ReasonOfLoss="03"), row(2, Name="山田　次郎")]
    report = run_import(sessions, csv_bytes(rows))
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 0)
    with sessions() as session:
        log = session.scalars(select(ChangeLogEntry).order_by(ChangeLogEntry.id)).all()
        assert [(e.action, e.fields, e.import_id) for e in log] == [
            ("record_loss", ["DisqualificationDate", "ReasonOfLoss"], report.import_id),
            ("correct", ["Name"], report.import_id),
        ]
        lost = session.scalars(select(Qualification).where(Qualification.number == "5001")).one()
        assert (lost.version, lost.import_id) == (2, first.import_id)
        assert [c.category for c in lost.specific_diseases] == ["2"]


def test_a_change_that_breaks_a_rule_is_rejected(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1)]))
    bad = row(1, DisqualificationDate="20240401", ReasonOfLoss="")
    found = reasons(rejected(sessions, csv_bytes([bad])))
    assert found == {2: "ReasonOfLoss: required with a loss date"}


def test_an_insurer_import_refuses_other_insurers_rows(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    data = csv_bytes([row(1), row(2, InsurerNumber=INSURER_B)])
    found = reasons(rejected(sessions, data, insurer=insurer_a.info))
    assert found == {3: "InsurerNumber: not the insurer of this credential"}


def test_the_person_is_kept_only_as_its_reference(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    run_import(sessions, csv_bytes([row(1)]))
    with sessions() as session:
        person = session.scalars(select(Person)).one()
    assert person.person_ref == person_reference(my_number(1), DEVELOPMENT_PSEUDONYM_KEY)


def test_progress_is_reported_up_to_the_whole_file(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(n) for n in range(1, 30)])
    seen: list[int] = []
    run_import(sessions, data, on_progress=seen.append)
    assert seen[-1] == len(data)
    assert seen == sorted(seen)


def test_memory_stays_flat_as_the_file_grows(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer
) -> None:
    def peak(rows: int, offset: int) -> int:
        data = csv_bytes([row(offset + n) for n in range(rows)])
        tracemalloc.start()
        try:
            # Flat beyond one batch of rows matched against the register at once: a batch
            # smaller than either file, so that what is measured is the growth with the file.
            run_import(sessions, data, match_batch_rows=500)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = peak(2_000, 0)
    large = peak(8_000, 10_000)
    assert large < small * 1.5, (small, large)


# --- through the API --------------------------------------------------------------------


def post_csv(
    client: TestClient, insurer: RegisteredInsurer, data: bytes, key: str, partial: bool = False
) -> Any:
    headers = {**insurer.headers, "Idempotency-Key": key, "Content-Type": "text/csv"}
    params = {"partial": "true"} if partial else {}
    return client.post("/v1/imports", content=data, headers=headers, params=params)


def test_an_insurer_imports_through_the_api(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    response = post_csv(client, insurer_a, csv_bytes([row(1), row(2)], "cp932"), "imp-1")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["Inserted"], body["Encoding"], body["Committed"]) == (2, "cp932", True)


def test_an_api_import_with_a_bad_row_is_422_with_the_report(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(1), row(2, MyNumber="1"), row(3)])
    response = post_csv(client, insurer_a, data, "imp-2")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == RegistryCode.IMPORT_REJECTED
    assert error["report"]["Rejections"] == [
        {"Line": 3, "Reason": "MyNumber: expected 12 digits, got 1 characters"}
    ]
    assert my_number(1) not in response.text


def test_a_retried_api_import_returns_the_first_report(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(1), row(2)])
    first = post_csv(client, insurer_a, data, "imp-3")
    retry = post_csv(client, insurer_a, data, "imp-3")
    assert retry.json() == first.json()
    other = post_csv(client, insurer_a, csv_bytes([row(4)]), "imp-3")
    assert other.status_code == 409


def test_api_and_member_registrations_meet_in_one_registry(
    client: TestClient, writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    writer.post("/v1/members", insurer_a, member_body(1, InsuredIdentificationNumber="5001"))
    response = post_csv(client, insurer_a, csv_bytes([row(1), row(2)]), "imp-4")
    found = {r["Line"]: r["Reason"] for r in response.json()["error"]["report"]["Rejections"]}
    assert list(found) == [2]
    assert found[2].startswith("the period overlaps qualification")


# --- from the command line --------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("ONSHI_PSEUDONYM_KEY", raising=False)
    register = write_register(tmp_path / "register.json")
    monkeypatch.setenv("ONSHI_RESIDENT_REGISTER_FILES", json.dumps([str(register)]))
    return CliRunner()


def test_cli_imports_a_file(
    cli_env: CliRunner, insurer_a: RegisteredInsurer, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(1), row(2)], "cp932"))
    result = cli_env.invoke(cli.app, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported: 2 rows (cp932), 2 inserted" in result.output


def test_cli_reports_every_rejected_line_and_exits_1(
    cli_env: CliRunner,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes([row(1), row(2, Sex1="7"), row(3), row(4, Birthdate="x")]))
    report = tmp_path / "rejected.tsv"
    result = cli_env.invoke(cli.app, ["import", str(path), "--report", str(report)])
    assert result.exit_code == 1
    assert "NOTHING imported" in result.output
    assert report.read_text(encoding="utf-8").splitlines() == [
        "line 3\tSex1: not a known code",
        "line 5\tBirthdate: expected a date as YYYYMMDD",
    ]
    assert count(sessions, Qualification) == 0


def test_cli_refuses_a_utf8_file_with_a_shift_jis_row_and_imports_nothing(
    cli_env: CliRunner,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    # 田中 in UTF-8 is valid CP932 too (逕ｰ荳ｭ): read as CP932, the rows around the odd one
    # used to be imported garbled, with exit 0.
    utf8 = csv_bytes([row(n, Name="田中", NameKana="") for n in (1, 2)])
    odd = csv_bytes([row(3)], "cp932").split(b"\r\n", 1)[1]
    path = tmp_path / "members.csv"
    path.write_bytes(utf8 + odd)
    result = cli_env.invoke(cli.app, ["import", str(path)])
    assert result.exit_code == 1, result.output
    symbol_at = len(utf8) + odd.index("東京".encode("cp932"))
    assert f"(line 4, byte {symbol_at})" in result.output
    assert "mixed encodings" in result.output
    assert "田中" not in result.output and my_number(3) not in result.output
    assert count(sessions, Qualification) == count(sessions, Person) == 0


def test_an_explicit_encoding_is_not_second_guessed(
    cli_env: CliRunner,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    # Row 2's UTF-8 田中 makes the file mixed to the detector; the operator who says CP932
    # gets CP932.
    sjis = csv_bytes([row(1)], "cp932")
    odd = csv_bytes([row(2, Name="田中", NameKana="")]).split(b"\r\n", 1)[1]
    path = tmp_path / "members.csv"
    path.write_bytes(sjis + odd)
    assert cli_env.invoke(cli.app, ["import", str(path)]).exit_code == 1
    result = cli_env.invoke(cli.app, ["import", str(path), "--encoding", "cp932"])
    assert result.exit_code == 0, result.output
    with sessions() as session:
        names = session.scalars(select(Qualification.name).order_by(Qualification.id))
        assert list(names) == ["山田　太郎", "逕ｰ荳ｭ"]  # 田中 in UTF-8, as asked


def test_cli_adds_an_insurer_and_prints_its_credential_once(
    cli_env: CliRunner, engine: Any
) -> None:
    result = cli_env.invoke(cli.app, ["insurer", "add", "01130012", "全国健康保険協会 東京支部"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ins_")
    listed = cli_env.invoke(cli.app, ["insurer", "list"])
    assert "01130012\tkyokai_kenpo" in listed.stdout
    assert token not in listed.stdout


def test_a_partial_api_import_keeps_the_good_rows(
    client: TestClient, insurer_a: RegisteredInsurer
) -> None:
    data = csv_bytes([row(1), row(2, Birthdate="2000"), row(3)])
    response = post_csv(client, insurer_a, data, "imp-5", partial=True)
    assert response.status_code == 201
    body = response.json()
    assert (body["Inserted"], body["Rejected"], body["Committed"]) == (2, 1, True)
    assert body["Rejections"] == [{"Line": 3, "Reason": "Birthdate: expected a date as YYYYMMDD"}]
