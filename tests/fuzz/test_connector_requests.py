"""The receipt-computer connector (docs/file-interface.md) under arbitrary request files.

Two levels. `read_request` (pure) turns any bytes into a request or a `RequestRejected` with
a file-level `C…` code whose detail never quotes a value. The loop (`Connector.run_once`
over real folders) answers every request file in one pass, whatever it holds: an answer file
that parses, with the code the parser gave, the refused input kept byte for byte in
`rejected/`, nothing left half-done in `work/` or `tmp/`.

The server behind the loop is an `httpx.MockTransport` that refuses every lookup with Q4001:
these properties are about reading files, and hundreds of passes against the real server
(a database per test) would not fit the time of a test run. The real server answers the
connector in `tests/clinic_client`.
"""

from __future__ import annotations

import datetime as dt
import string
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.names import NAME_MAX_BYTES, RequestKind, RequestName
from clinic_client.connector.requests import (
    MAX_REQUEST_BYTES,
    QUERY_ELEMENTS,
    BatchRequest,
    BulkRegistrationRequest,
    RejectedEntry,
    Request,
    read_request,
)
from clinic_client.connector.spool import Spool

from .mutations import mutations_of
from .outcomes import attempt

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "connector"
SAMPLE_FILES = [path.read_bytes() for path in sorted(SAMPLES.glob("*.xml"))]
# What a file as a whole can be refused with (C1007 depends on the name only).
FILE_CODES = {
    ConnectorCode.NOT_WELL_FORMED,
    ConnectorCode.WRONG_STRUCTURE,
    ConnectorCode.UNREADABLE_ENCODING,
    ConnectorCode.INVALID_VALUE,
    ConnectorCode.INVALID_INSURER_NUMBER,
    ConnectorCode.TOO_LARGE,
}
SERVER_REFUSAL = "Q4001"

# --- documents ----------------------------------------------------------------------------

HEADER_ELEMENTS = (
    "QualificationConfirmationDate",
    "MedicalInstitutionCode",
    "ArbitraryFileIdentifier",
)
ELEMENT_NAMES = (
    "XmlMsg",
    "MessageHeader",
    "MessageBody",
    "QualificationConfirmSearchInfo",
    *HEADER_ELEMENTS,
    *QUERY_ELEMENTS,
    "Unknown",
    "xmlmsg",
)
# Text XML can carry (no control characters, no surrogates), with markup characters that
# must come back escaped, kanji, full-width digits, and what Shift_JIS cannot hold (𠮷).
xml_text = st.text(
    alphabet=st.sampled_from(
        list(string.ascii_letters + string.digits + " <>&'\"-_\t\n") + list("記号１２番山田𠮷髙﨑")
    ),
    max_size=40,
)


entity_text = st.text(alphabet=st.sampled_from(list(string.ascii_letters + "記号𠮷 ")), max_size=20)


def _tree(draw: st.DrawFn, depth: int) -> ET.Element:
    element = ET.Element(draw(st.sampled_from(ELEMENT_NAMES)))
    if depth == 0 or draw(st.booleans()):
        element.text = draw(xml_text)
        return element
    for _ in range(draw(st.integers(0, 4))):
        element.append(_tree(draw, depth - 1))
    return element


@st.composite
def random_documents(draw: st.DrawFn) -> bytes:
    """Well-formed XML of the request's vocabulary in any arrangement, with any declared
    encoding, encoded as declared or not."""
    root = _tree(draw, depth=4)
    if draw(st.booleans()):
        root.tag = "XmlMsg"
    body = ET.tostring(root, encoding="unicode")
    declared = draw(st.sampled_from(["UTF-8", "Shift_JIS", "SJIS", "EUC-JP", "UTF-16", None]))
    prolog = (
        f'<?xml version="1.0" encoding="{declared}"?>'
        if declared
        else draw(st.sampled_from(['<?xml version="1.0"?>', ""]))
    )
    codec = draw(st.sampled_from(["utf-8", "cp932", "euc-jp", "utf-16", "latin-1"]))
    data = (prolog + body).encode(codec, errors="xmlcharrefreplace")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


def _values_of(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789０１２記号", min_size=1, max_size=length)


# Each element of a request: (valid values, values that break its format).
FIELD_VALUES: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]] = {
    "QualificationConfirmationDate": (
        st.sampled_from(["20260415", "20240229"]),
        st.sampled_from(["20260230", "2026041"]) | _values_of(10),
    ),
    "MedicalInstitutionCode": (st.just("1310000017"), _values_of(12)),
    "ArbitraryFileIdentifier": (
        st.sampled_from(["rc-1", "x" * 64]),
        st.sampled_from(["x" * 65]) | _values_of(70),
    ),
    "InsurerNumber": (
        st.sampled_from(["01130012", "  131011", "00131011", "131011"]),
        st.sampled_from(["01130013", "1311", "ABCDEFGH"]) | _values_of(9),
    ),
    "InsuredCardSymbol": (st.sampled_from(["記号12", "ｱ" * 38]), st.just("ｱ" * 39)),
    "InsuredIdentificationNumber": (
        st.sampled_from(["1001", "1" * 38]),
        st.just("1" * 39) | _values_of(40),
    ),
    "InsuredBranchNumber": (st.sampled_from(["00", "01"]), st.sampled_from(["0", "001", "ab"])),
    "Birthdate": (
        st.sampled_from(["19800401", "20000229"]),
        st.sampled_from(["19800231", "1980-04-01"]) | _values_of(9),
    ),
    "LimitApplicationCertificateRelatedConsFlg": (
        st.sampled_from(["0", "1"]),
        st.sampled_from(["2", "yes"]),
    ),
}


@st.composite
def near_requests(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A request document whose elements are mostly there and mostly valid (so that many
    are read whole), and the values it holds (none of which an error may quote)."""
    values: list[str] = []

    def fields(names: tuple[str, ...]) -> str:
        out = []
        for name in names:
            if draw(st.integers(0, 19)) == 0:
                continue  # left out
            valid, invalid = FIELD_VALUES[name]
            value = draw(invalid if draw(st.integers(0, 9)) == 0 else valid)
            values.append(value)
            out.append(f"<{name}>{value}</{name}>")
        return "".join(out)

    header = fields(HEADER_ELEMENTS)
    infos = "".join(
        f"<QualificationConfirmSearchInfo>{fields(QUERY_ELEMENTS)}</QualificationConfirmSearchInfo>"
        for _ in range(draw(st.integers(1, 3)))
    )
    declared = draw(st.sampled_from(["UTF-8", "Shift_JIS"]))
    text = (
        f'<?xml version="1.0" encoding="{declared}"?>'
        f"<XmlMsg><MessageHeader>{header}</MessageHeader>"
        f"<MessageBody>{infos}</MessageBody></XmlMsg>"
    )
    codec = "utf-8" if declared == "UTF-8" else "cp932"
    return text.encode(codec, errors="xmlcharrefreplace"), values


def _doctype(draw: st.DrawFn) -> str:
    entity = draw(
        st.sampled_from(
            [
                '<!ENTITY a "{x}">',
                '<!ENTITY a SYSTEM "file:///etc/hostname">',
                '<!ENTITY a SYSTEM "http://127.0.0.1:9/x.dtd">',
                '<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;',
                '<!ENTITY a "&#x26;#x3C;b/&#x3E;">',
                '<!ENTITY b "{x}{x}{x}{x}"><!ENTITY a "&b;&b;&b;&b;&b;&b;&b;&b;">',
            ]
        )
    ).replace("{x}", draw(entity_text))  # the same text in each place
    subset = draw(st.sampled_from([f"[{entity}]", "", 'SYSTEM "file:///etc/passwd"']))
    return f"<!DOCTYPE {draw(st.sampled_from(['XmlMsg', 'x']))} {subset}>"


@st.composite
def entity_attacks(draw: st.DrawFn) -> bytes:
    """A valid request with a DOCTYPE put in front: internal and external entities,
    parameter entities, an external DTD."""
    sample = draw(st.sampled_from(SAMPLE_FILES[:1] + SAMPLE_FILES[2:]))  # not the broken one
    prolog, _, rest = sample.partition(b"?>")
    reference = draw(st.sampled_from(["", "&a;"]))
    rest = rest.replace(b"<MessageBody>", f"<MessageBody>{reference}".encode(), 1)
    codec = "cp932" if b"Shift_JIS" in prolog else "utf-8"
    return prolog + b"?>" + _doctype(draw).encode(codec, errors="xmlcharrefreplace") + rest


request_bytes = st.one_of(
    st.binary(max_size=600),
    mutations_of(SAMPLE_FILES, max_edits=6),
    random_documents(),
    near_requests().map(lambda made: made[0]),
    entity_attacks(),
)


def refusal_or_request(kind: RequestKind, data: bytes) -> Request | RequestRejected:
    return attempt(lambda: read_request(kind, data), RequestRejected)


# --- the parser ---------------------------------------------------------------------------


@settings(max_examples=800, deadline=None)
@given(kind=st.sampled_from(list(RequestKind)), data=request_bytes)
def test_any_file_is_a_request_or_a_numbered_refusal(kind: RequestKind, data: bytes) -> None:
    outcome = refusal_or_request(kind, data)
    if isinstance(outcome, RequestRejected):
        event(outcome.code.value)
        assert outcome.code in FILE_CODES
        assert outcome.info.front_desk and outcome.info.it
    else:
        event(type(outcome).__name__)


@settings(max_examples=600, deadline=None)
@given(kind=st.sampled_from([RequestKind.SINGLE, RequestKind.BATCH]), made=near_requests())
def test_a_refusal_names_the_element_and_never_quotes_a_value(
    kind: RequestKind, made: tuple[bytes, list[str]]
) -> None:
    data, values = made
    outcome = refusal_or_request(kind, data)
    details: list[str] = []
    if isinstance(outcome, RequestRejected):
        event(outcome.code.value)
        assert outcome.detail, "a refusal says where"
        details.append(outcome.detail)
    elif isinstance(outcome, BatchRequest):
        details += [e.detail or "" for e in outcome.entries if isinstance(e, RejectedEntry)]
    for detail in details:
        for value in values:
            if len(value.strip()) >= 3:
                assert value.strip() not in detail, (value, detail)


@settings(max_examples=300, deadline=None)
@given(data=entity_attacks())
def test_a_doctype_is_refused_whatever_it_declares(data: bytes) -> None:
    outcome = refusal_or_request(RequestKind.SINGLE, data)
    assert isinstance(outcome, RequestRejected)
    assert outcome.code is ConnectorCode.NOT_WELL_FORMED
    assert outcome.detail is not None and "DOCTYPE" in outcome.detail


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (  # deep: parsed (under the limit), and refused for what it is
            b"<XmlMsg>" + b"<a>" * 140_000 + b"</a>" * 140_000 + b"</XmlMsg>",
            ConnectorCode.WRONG_STRUCTURE,
        ),
        (b"\xff\xfe" + "<XmlMsg/>".encode("utf-16-le") * 150_000, ConnectorCode.TOO_LARGE),
        (
            b'<!DOCTYPE x [<!ENTITY a "' + b"A" * MAX_REQUEST_BYTES + b'">]><XmlMsg>&a;</XmlMsg>',
            ConnectorCode.TOO_LARGE,
        ),
        (b"\x00" * (MAX_REQUEST_BYTES + 1), ConnectorCode.TOO_LARGE),
    ],
    ids=["deep nesting", "utf-16", "doctype", "nul bytes"],
)
def test_large_and_deep_files_are_refused_with_their_code(
    content: bytes, code: ConnectorCode
) -> None:
    # Over the limit, the code is C1006 whatever the content: it was never parsed.
    outcome = refusal_or_request(RequestKind.SINGLE, content)
    assert isinstance(outcome, RequestRejected) and outcome.code is code


# --- the loop -----------------------------------------------------------------------------

PREFIXES = (
    "OQSsiquc01req_", "OQSmuquc01req_", "OQSmuquc02req_", "OQSsiimm01req_", "OQSmuimm01req_",
    "", "OQSx_",
)  # fmt: skip
file_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_.記号 ", max_size=30)


@st.composite
def request_files(draw: st.DrawFn) -> dict[str, bytes]:
    """A few request files, names as docs/file-interface.md has them or not, distinct answers."""
    files: dict[str, bytes] = {}
    for number in range(draw(st.integers(1, 4))):
        prefix = draw(st.sampled_from(PREFIXES))
        name = f"{prefix}{number}{draw(file_ids)}{draw(st.sampled_from(['.xml', '.XML']))}"
        files[name] = draw(request_bytes)
    if draw(st.integers(0, 9)) == 0:  # as long as a file name can be: its answer's is not
        files["L" * (NAME_MAX_BYTES - 4) + ".xml"] = draw(request_bytes)
    return files


def refusing_server() -> QualificationClient:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"code": SERVER_REFUSAL, "message": "該当なし", "message_it": "no match"}
        return httpx.Response(404, json={"error": error})

    http = httpx.Client(base_url="http://server.test", transport=httpx.MockTransport(handler))
    return QualificationClient("http://server.test", "1310000017.test", http=http)


@pytest.fixture(scope="module")
def client() -> Iterator[QualificationClient]:
    server = refusing_server()
    yield server
    server.close()


def _expected_code(name: RequestName, data: bytes) -> str | None:
    """The connector's own code for this file, or None when it goes to the server."""
    if name.kind is None or name.request_id is None:
        return ConnectorCode.UNKNOWN_REQUEST.value
    outcome = refusal_or_request(name.kind, data)
    if isinstance(outcome, RequestRejected):
        return outcome.code.value
    if isinstance(outcome, BatchRequest | BulkRegistrationRequest):
        # A batch none of whose entries can be read is refused whole, with the first's code.
        entries = outcome.entries
        if all(isinstance(e, RejectedEntry) for e in entries):
            return next(e for e in entries if isinstance(e, RejectedEntry)).code.value
    return None


def _read_answer(path: Path) -> ET.Element:
    data = path.read_bytes()
    declared = data.split(b'encoding="', 1)[1].split(b'"', 1)[0].decode("ascii")
    root = ET.fromstring(data.decode({"UTF-8": "utf-8", "Shift_JIS": "cp932"}[declared]))
    assert root.tag == "XmlMsg"
    return root


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=request_files())
def test_one_pass_answers_every_file_and_keeps_what_it_refused(
    client: QualificationClient, files: dict[str, bytes]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        spool = Spool.open(Path(folder))
        for file_name, data in files.items():
            (spool.req / file_name).write_bytes(data)
        clock = lambda: dt.datetime(2026, 4, 15, 1, tzinfo=dt.UTC)  # noqa: E731
        report = Connector(spool, client, settle_s=0, clock=clock).run_once()

        assert (report.answered, report.outage) == (len(files), None)
        for folder_left_empty in (spool.req, spool.work, spool.tmp):
            assert list(folder_left_empty.iterdir()) == []
        kept = {path.name: path.read_bytes() for path in spool.rejected.iterdir()}
        for file_name, data in files.items():
            name = RequestName.parse(file_name)
            root = _read_answer(spool.res / name.answer_name)
            code = _expected_code(name, data)
            event(code or "server")
            if code is None:  # read, sent, and refused by the server: an answer like any
                assert file_name not in kept
                if root.findtext("MessageHeader/ErrorCode") is not None:
                    assert root.findtext("MessageHeader/ErrorCode") == SERVER_REFUSAL
            else:
                assert root.findtext("MessageHeader/ErrorCode") == code
                assert root.findtext("MessageBody/ProcessingResultCode") == code
                assert kept[file_name] == data, "the refused request is kept as it came"
        assert len(kept) == sum(
            _expected_code(RequestName.parse(n), d) is not None for n, d in files.items()
        )


def test_a_refused_request_kept_before_a_stop_is_not_kept_twice(
    client: QualificationClient, tmp_path: Path
) -> None:
    # The connector stopped after keeping the refused claim, before publishing its answer:
    # the restart answers it and finds it already kept.
    spool = Spool.open(tmp_path)
    claim = spool.work / "OQSsiquc01req_stop.xml"
    claim.write_bytes(b"<XmlMsg>")
    spool.keep_rejected(claim)
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    assert [p.name for p in spool.rejected.iterdir()] == ["OQSsiquc01req_stop.xml"]
    assert (
        _read_answer(spool.res / "OQSsiquc01res_stop.xml").findtext("MessageHeader/ErrorCode")
        == ConnectorCode.NOT_WELL_FORMED.value
    )


def test_two_refused_requests_of_one_name_are_both_kept(
    client: QualificationClient, tmp_path: Path
) -> None:
    spool = Spool.open(tmp_path)
    connector = Connector(spool, client, settle_s=0)
    for content in (b"<XmlMsg>", b"\xff not xml"):
        (spool.req / "OQSsiquc01req_same.xml").write_bytes(content)
        assert connector.run_once().answered == 1
    kept = {p.name: p.read_bytes() for p in spool.rejected.iterdir()}
    assert kept == {
        "OQSsiquc01req_same.xml": b"<XmlMsg>",
        "1-OQSsiquc01req_same.xml": b"\xff not xml",
    }
