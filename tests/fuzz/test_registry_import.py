"""The insurer registry's CSV import under bad files.

Whatever the bytes, `import_csv` gives a report, `ImportRejected` (rows rejected, each with
its line and the element at fault) or `ImportFileInvalid` (the file as a whole, with its
line) — and a file that is not imported leaves every table as it was: nothing half-imported.
The API refuses an upload over its limit before reading it. Each property runs on SQLite and,
with `DATABASE_URL`, on PostgreSQL (where rows are staged with COPY).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, table
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.error_codes import RegistryCode
from insurer_registry.importer import routes
from insurer_registry.importer.csv_source import ATTRIBUTE_OF_COLUMN, ImportFileInvalid
from insurer_registry.importer.service import ImportRejected, ImportReport, import_csv
from insurer_registry.members.audit import Actor
from insurer_registry.models import Qualification, table_names
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from tests.support.registry import INSURER_A, RegisteredInsurer, TestResidents, my_number

from .mutations import mutated
from .outcomes import attempt

pytestmark = pytest.mark.db


def database_examples(count: int) -> settings:
    """`count` examples on the test's database. Its tables are emptied per test, not per
    example: imports that succeed accumulate, which later examples meet as the registry."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


COLUMNS = (
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
    "PostNumber",
)


def valid_row(n: int) -> dict[str, str]:
    """Member `n` of insurer A: a row the registry accepts."""
    return {
        "InsurerNumber": INSURER_A,
        "MyNumber": my_number(n),
        "InsuredCardSymbol": "東京",
        "InsuredIdentificationNumber": f"{7000 + n}",
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
        "PostNumber": "100-8916",
    }


def csv_text(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def encoded(text: str, encoding: str) -> bytes:
    """`text` in `encoding` (UTF-8 where CP932 cannot carry it)."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


# Values each column must refuse, on their own: wrong formats, unknown codes, control
# characters (NUL among them), lengths past the limits, blank required values.
BAD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "InsurerNumber": st.sampled_from(["0613001", "06130018", "ABCDEFGH", "", "０６１３００１７"]),
    "MyNumber": st.sampled_from(["12345678901", "123456789019", "", "12345678901X", "1" * 200]),
    "InsuredCardSymbol": st.sampled_from([" 東京", "東" * 20, "東\x00京", "   "]),
    "InsuredIdentificationNumber": st.sampled_from(["", "1" * 39, " 1", "1\x00", "1\t"]),
    "InsuredBranchNumber": st.sampled_from(["0", "001", "ab", "", "０１"]),
    "InsuredCardClassification": st.sampled_from(["99", "", "1", "01 "]),
    "PersonalFamilyClassification": st.sampled_from(["9", "", "本人"]),
    "Name": st.sampled_from(["", "   ", "山" * 101, "山田\x00太郎", "山田\x1f", "x" * 10_000]),
    # (hiragana is taken, as half-width katakana; ガ is two half-width characters)
    "NameKana": st.sampled_from(["ヰノウエ", "ﾔﾏﾀﾞ\x01", "YAMADA", "ア" * 101, "ガ" * 51]),
    "Sex1": st.sampled_from(["0", "4", "", "男", "1\x00"]),
    "Birthdate": st.sampled_from(["19800231", "1980041", "1980-04-01", "", "１９８００４０１"]),
    "QualificationDate": st.sampled_from(["20200230", "2020", "", "20200401\x00"]),
    "DisqualificationDate": st.sampled_from(["20200230", "tomorrow", "2020/04/01"]),
    "ReasonOfLoss": st.sampled_from(["98", "1", "x"]),
    "InsuredPartialContributionRatio": st.sampled_from(["031", "3", "30%", "0300"]),
    "PostNumber": st.sampled_from(["12345", "100-89166", "〒100-8916", "abc-defg"]),
}
file_encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp932"])
KNOWN_ELEMENTS = frozenset(ATTRIBUTE_OF_COLUMN)


def registry_state(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Row counts of every table, and each qualification's id and version."""
    with sessions() as session:
        state: dict[str, Any] = {
            name: session.scalar(select(func.count()).select_from(table(name)))
            for name in table_names()
        }
        versions = session.execute(select(Qualification.id, Qualification.version))
        state["qualification versions"] = sorted(tuple(row) for row in versions)
    return state


def run_import(sessions: sessionmaker[Session], data: bytes) -> ImportReport:
    with transaction(sessions) as session:
        return import_csv(
            session=session,
            source=io.BytesIO(data),
            pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY,
            actor=Actor.operator("fuzz"),
            register=TestResidents(),
        )


Outcome = ImportReport | ImportRejected | ImportFileInvalid


def outcome_of(sessions: sessionmaker[Session], data: bytes) -> Outcome:
    """The import's report or its refusal; a refused file must have changed nothing."""
    before = registry_state(sessions)
    result: Outcome = attempt(
        lambda: attempt(lambda: run_import(sessions, data), ImportRejected), ImportFileInvalid
    )
    if not isinstance(result, ImportReport):
        event(type(result).__name__)
        assert registry_state(sessions) == before, "a refused file changed the registry"
    else:
        event("imported" if result.inserted or result.updated else "nothing new")
    return result


@database_examples(80)
@given(
    size=st.integers(1, 4),
    data=st.data(),
    encoding=file_encodings,
)
def test_a_bad_field_is_reported_with_its_line_and_element_and_nothing_is_imported(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    size: int,
    data: st.DataObject,
    encoding: str,
) -> None:
    rows = [valid_row(n) for n in range(1, size + 1)]
    bad_row = data.draw(st.integers(0, size - 1), label="bad row")
    column = data.draw(st.sampled_from(sorted(BAD_VALUES)), label="column")
    rows[bad_row][column] = data.draw(BAD_VALUES[column], label="bad value")

    refused = outcome_of(sessions, encoded(csv_text(rows), encoding))

    assert isinstance(refused, ImportRejected)
    (rejection,) = refused.report.rejections
    assert rejection.line == bad_row + 2  # line 1 is the header
    assert f"{column}: " in rejection.reason
    for value in (rows[bad_row]["MyNumber"], rows[bad_row]["Name"]):
        if len(value) >= 4:
            assert value not in rejection.reason, "a rejection never repeats a value"


# --- whole files ------------------------------------------------------------------------


def _header_variants(draw: st.DrawFn) -> tuple[str, ...]:
    columns = list(COLUMNS)
    if draw(st.integers(0, 3)):  # mostly a sound header, so that the rows are read
        return tuple(draw(st.permutations(columns)) if draw(st.booleans()) else columns)
    change = draw(st.sampled_from(["duplicate", "unknown", "drop", "bom"]))
    if change == "duplicate":
        columns.insert(draw(st.integers(0, len(columns))), draw(st.sampled_from(COLUMNS)))
    elif change == "unknown":
        columns.insert(draw(st.integers(0, len(columns))), draw(st.sampled_from(["Shoe", "名前"])))
    elif change == "drop":
        del columns[draw(st.integers(0, len(columns) - 1))]
    elif change == "bom":  # a second BOM, or one inside the header
        columns[0] = "\ufeff" + columns[0]
    return tuple(columns)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A member file that is wrong in one or several of the ways files go wrong."""
    size = draw(st.integers(0, 4))
    rows = [valid_row(n) for n in range(1, size + 1)]
    for row in rows:
        if draw(st.booleans()):
            column = draw(st.sampled_from(sorted(BAD_VALUES)))
            row[column] = draw(BAD_VALUES[column])
    columns = _header_variants(draw)
    lines = csv_text(rows, columns).split("\r\n")
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):  # a row of the wrong width
        at = draw(st.integers(1, max(1, len(lines) - 1)))
        lines[at] += draw(st.sampled_from([",extra", ",", ""]))
        if draw(st.booleans()) and "," in lines[at]:
            lines[at] = lines[at].rsplit(",", 1)[0]
    text = draw(st.sampled_from(["\r\n", "\r\n", "\n", "\r"])).join(lines)
    special = draw(
        st.sampled_from(["none"] * 4 + ["quote", "nul", "long field", "blank lines", "cp932 line"])
    )
    if special == "quote":
        text = text.replace(",", ',"', 1)
    elif special == "nul":
        text = text.replace(",", ",\x00", 2)
    elif special == "long field":
        text += "\r\n" + INSURER_A + "," + "1" * 140_000
    elif special == "blank lines":
        text = "\r\n\r\n".join(text.split("\r\n"))
    encoding = draw(file_encodings)
    data = encoded(text, encoding)
    if special == "cp932 line" and encoding != "cp932":
        data += "\r\n".join(["", INSURER_A + ",山田"]).encode("cp932")
    return data


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") + 1


any_csv = st.one_of(
    csv_files(),
    csv_files(),
    csv_files(),
    st.binary(max_size=400),
    mutated(codecs.BOM_UTF8 + csv_text([valid_row(1), valid_row(2)]).encode(), max_edits=6),
    mutated(csv_text([valid_row(1), valid_row(2)]).encode("cp932"), max_edits=6),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
)


@database_examples(150)
@given(data=any_csv)
def test_any_file_is_imported_or_refused_with_a_line_and_leaves_nothing_half_done(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, data: bytes
) -> None:
    result = outcome_of(sessions, data)
    lines = _line_count(data)
    if isinstance(result, ImportFileInvalid):
        assert result.reason and "do you need" not in result.reason  # no Python jargon
        assert result.line is None or 1 <= result.line <= lines
    elif isinstance(result, ImportRejected):
        assert result.report.rejections and not result.report.committed
        for rejection in result.report.rejections:
            assert 2 <= rejection.line <= lines
            for problem in rejection.reason.split("; "):
                # An element and what is wrong with it; a row of the wrong width; a clash
                # with another row or the registry ("the same qualification as line 2").
                element = problem.split(": ", 1)[0]
                assert element in KNOWN_ELEMENTS or problem.startswith(("expected ", "the ")), (
                    problem
                )
    else:
        assert result.committed and result.rejected == 0


@database_examples(40)
@given(size=st.integers(1, 3), encoding=file_encodings)
def test_a_file_without_its_header_is_refused_without_quoting_its_first_row(
    sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, size: int, encoding: str
) -> None:
    rows = [valid_row(n) for n in range(1, size + 1)]
    headless = csv_text(rows).split("\r\n", 1)[1]
    refused = outcome_of(sessions, encoded(headless, encoding))
    assert isinstance(refused, ImportFileInvalid) and refused.line == 1
    for value in rows[0].values():
        if len(value) >= 4:
            assert value not in str(refused), str(refused)


# Common surnames and given names; 12 of these surnames in UTF-8 are valid CP932 as well.
# The odd row is one of three or more, so that it is the odd one out.
SURNAMES = [
    *("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"),
    *("小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本"),
]
GIVEN_NAMES = ["太郎", "花子", "一郎", "陽子", "翔", "結衣", "大輔", "美咲", "健", "愛"]
names = st.builds(lambda s, g: f"{s}　{g}", st.sampled_from(SURNAMES), st.sampled_from(GIVEN_NAMES))


@database_examples(60)
@given(
    rows=st.lists(names, min_size=3, max_size=6),
    odd=st.data(),
    file_encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
)
def test_a_row_in_the_other_encoding_is_refused_on_its_line_and_nothing_is_imported(
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    rows: list[str],
    odd: st.DataObject,
    file_encoding: str,
) -> None:
    at = odd.draw(st.integers(0, len(rows) - 1), label="odd row")
    lines = csv_text([{**valid_row(n), "Name": name} for n, name in enumerate(rows, 1)])
    header, *body = lines.split("\r\n")
    other = "utf-8" if file_encoding == "cp932" else "cp932"
    data = header.encode(file_encoding) + b"".join(
        b"\r\n" + line.encode(other if n == at else file_encoding.removesuffix("-sig"))
        for n, line in enumerate(body)
    )
    refused = outcome_of(sessions, data)
    assert isinstance(refused, ImportFileInvalid), refused
    assert "mixed encodings" in refused.reason and refused.line == at + 2
    for name in rows:
        assert name not in str(refused)


# --- the API --------------------------------------------------------------------------------


def _post(client: TestClient, insurer: RegisteredInsurer, body: Any, key: str) -> Any:
    headers = {**insurer.headers, "Idempotency-Key": key, "Content-Type": "text/csv"}
    return client.post("/v1/imports", content=body, headers=headers)


@database_examples(40)
@given(data=any_csv)
def test_the_api_answers_any_file_with_201_or_422_never_500(
    client: TestClient, sessions: sessionmaker[Session], insurer_a: RegisteredInsurer, data: bytes
) -> None:
    before = registry_state(sessions)
    response = _post(client, insurer_a, data, key=f"fuzz-{hashlib.sha256(data).hexdigest()}")
    event(str(response.status_code))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["code"] in (
            RegistryCode.IMPORT_REJECTED,
            RegistryCode.INVALID_FILE,
        )
        assert registry_state(sessions) == before


@pytest.fixture
def small_upload_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """The API's upload limit lowered, so that going past it takes kilobytes."""
    monkeypatch.setattr(routes, "MAX_UPLOAD_BYTES", 4096)
    return 4096


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_upload_over_the_limit_is_413_before_it_is_read_and_the_key_stays_free(
    client: TestClient,
    sessions: sessionmaker[Session],
    insurer_a: RegisteredInsurer,
    small_upload_limit: int,
    chunked: bool,
) -> None:
    rows = [valid_row(n) for n in range(1, 60)]
    big = csv_text(rows).encode()
    assert len(big) > small_upload_limit
    before = registry_state(sessions)

    def stream() -> Iterator[bytes]:
        yield from (big[i : i + 1000] for i in range(0, len(big), 1000))

    response = _post(client, insurer_a, stream() if chunked else big, key="big-1")
    assert response.status_code == 413
    error = response.json()["error"]
    assert (
        error["code"] == RegistryCode.UPLOAD_TOO_LARGE
        and str(small_upload_limit) in error["detail"]
    )
    assert registry_state(sessions) == before
    # Nothing was stored under the key: the same key with a file that fits is imported.
    small = csv_text(rows[:2]).encode()
    assert _post(client, insurer_a, small, key="big-1").status_code == 201
