"""Request files (docs/file-interface.md) read into frozen values. Pure: bytes in, values or
`RequestRejected` out.

個別照会 (`OQSsiquc01req`): `XmlMsg/MessageHeader` {`QualificationConfirmationDate`,
`MedicalInstitutionCode`, `ArbitraryFileIdentifier`, each optional} and
`XmlMsg/MessageBody/QualificationConfirmSearchInfo` once. 一括照会 (`OQSmuquc01req`, body
chosen here): the same header and `QualificationConfirmSearchInfo` repeated, one per
person; an entry that cannot be read is refused on its own, the others are still looked up.
Its result is fetched later with `OQSmuquc02req`: the same header and
`MessageBody/ReceptionNumber`, the number the upload result (`OQSmuquc01res`) gave.
目視確認用パスコード取得 (`OQSsipcd01req`, name chosen): the header only; a `MessageBody`, if
any, is not read.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pydantic import ValidationError

from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.names import RequestKind
from clinic_client.connector.xmlcodec import ROOT, WireEncoding, XmlReadError, read_xml
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber, validate_clinic_code
from qualification_server.contract.batch import RECEPTION_NUMBER_DIGITS
from qualification_server.contract.reference_numbers import REFERENCE_NUMBER_PATTERN
from qualification_server.contract.schemas import InsuredCardQuery

MAX_REQUEST_BYTES = 1 << 20  # 1 MiB: a batch of 2,000 people fits several times over
MAX_FILE_IDENTIFIER = 64  # what the server accepts for ArbitraryFileIdentifier
HEADER = "MessageHeader"
BODY = "MessageBody"
SEARCH_INFO = "QualificationConfirmSearchInfo"
RECEPTION_NUMBER = "ReceptionNumber"
REFERENCE_NUMBER = "ReferenceNumber"
REGISTRATION_UNIT = "ReferenceNumberRegistrationInfo"  # chosen: the real name is not known
REFERENCE_NUMBER_TEXT = re.compile(REFERENCE_NUMBER_PATTERN.strip("^$"))
RECEPTION_NUMBER_PATTERN = re.compile(f"[0-9]{{{RECEPTION_NUMBER_DIGITS}}}")
QUERY_ELEMENTS = tuple(InsuredCardQuery.model_fields)  # the order of docs/file-interface.md
REQUIRED_QUERY_ELEMENTS = (
    "InsurerNumber",
    "InsuredIdentificationNumber",
    "Birthdate",
)


@dataclass(frozen=True, slots=True)
class RequestHeader:
    """What `MessageHeader` carries; each absent element is None."""

    confirmation_date: str | None = None  # YYYYMMDD; the server's today when absent
    medical_institution_code: str | None = None
    arbitrary_file_identifier: str | None = None


@dataclass(frozen=True, slots=True)
class SingleRequest:
    """個別照会: one insured number."""

    encoding: WireEncoding
    header: RequestHeader
    query: InsuredCardQuery


@dataclass(frozen=True, slots=True)
class RejectedEntry:
    """A 一括照会 entry that cannot be sent; it gets a BulkConfirmUnit of its own."""

    code: ConnectorCode
    detail: str | None
    echo: tuple[tuple[str, str], ...]  # the entry's elements as they came


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """一括照会: entries in file order, each a query or a refusal."""

    encoding: WireEncoding
    header: RequestHeader
    entries: tuple[InsuredCardQuery | RejectedEntry, ...]

    @property
    def queries(self) -> list[InsuredCardQuery]:
        return [e for e in self.entries if isinstance(e, InsuredCardQuery)]


@dataclass(frozen=True, slots=True)
class BatchFetchRequest:
    """一括照会, step 2 (`OQSmuquc02req`): the result of the batch with this number."""

    encoding: WireEncoding
    header: RequestHeader
    reception_number: str


@dataclass(frozen=True, slots=True)
class RegistrationEntry:
    """One 照会番号 to register: the person, named as in a 個別照会, and the clinic's number."""

    query: InsuredCardQuery
    reference_number: str


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """照会番号登録 (`OQSsiimm01req`): `MessageBody` holds `QualificationConfirmSearchInfo`
    and `ReferenceNumber`."""

    encoding: WireEncoding
    header: RequestHeader
    entry: RegistrationEntry


@dataclass(frozen=True, slots=True)
class BulkRegistrationRequest:
    """照会番号一括登録 (`OQSmuimm01req`): `MessageBody` holds one
    `ReferenceNumberRegistrationInfo` per person, each with `QualificationConfirmSearchInfo`
    and `ReferenceNumber`; an entry that cannot be read is refused on its own."""

    encoding: WireEncoding
    header: RequestHeader
    entries: tuple[RegistrationEntry | RejectedEntry, ...]

    @property
    def readable(self) -> list[RegistrationEntry]:
        return [e for e in self.entries if isinstance(e, RegistrationEntry)]


@dataclass(frozen=True, slots=True)
class PasscodeRequest:
    """目視確認用パスコード取得 (OQS-IF-049, `OQSsipcd01req`): a passcode for one visual check."""

    encoding: WireEncoding
    header: RequestHeader


Request = (
    SingleRequest
    | BatchRequest
    | BatchFetchRequest
    | RegistrationRequest
    | BulkRegistrationRequest
    | PasscodeRequest
)


def read_request(kind: RequestKind, data: bytes) -> Request:
    """The request in `data`, a file of `kind`; `RequestRejected` if it cannot be read."""
    if len(data) > MAX_REQUEST_BYTES:
        raise RequestRejected(ConnectorCode.TOO_LARGE, f"more than {MAX_REQUEST_BYTES} bytes")
    try:
        root, encoding = read_xml(data)
    except XmlReadError as exc:
        code = (
            ConnectorCode.UNREADABLE_ENCODING
            if exc.encoding_error
            else ConnectorCode.NOT_WELL_FORMED
        )
        raise RequestRejected(code, exc.detail, encoding=exc.encoding) from None
    try:
        header = read_header(root)
    except RequestRejected as exc:
        raise exc.within(encoding) from None
    try:
        if kind is RequestKind.SINGLE:
            (info,) = _search_infos(root, at_most_one=True)
            return SingleRequest(encoding, header, read_query(info, f"{BODY}/{SEARCH_INFO}"))
        if kind is RequestKind.BATCH:
            entries = tuple(
                _batch_entry(info, f"{BODY}/{SEARCH_INFO}[{position}]")
                for position, info in enumerate(_search_infos(root, at_most_one=False), 1)
            )
            return BatchRequest(encoding, header, entries)
        if kind is RequestKind.BATCH_FETCH:
            return BatchFetchRequest(encoding, header, _reception_number(root))
        if kind is RequestKind.VISUAL_PASSCODE:
            return PasscodeRequest(encoding, header)
        body = _child(root, BODY, ROOT)
        if kind is RequestKind.REGISTER_SINGLE:
            return RegistrationRequest(encoding, header, _registration(body, BODY))
        units = body.findall(REGISTRATION_UNIT)
        if not units:
            raise RequestRejected(
                ConnectorCode.WRONG_STRUCTURE, f"{BODY}/{REGISTRATION_UNIT} is missing"
            )
        registrations = tuple(
            _registration_entry(unit, f"{BODY}/{REGISTRATION_UNIT}[{position}]")
            for position, unit in enumerate(units, 1)
        )
        return BulkRegistrationRequest(encoding, header, registrations)
    except RequestRejected as exc:
        raise exc.within(encoding, header) from None


def read_header(root: ET.Element) -> RequestHeader:
    """`XmlMsg/MessageHeader`, its values checked."""
    if root.tag != ROOT:
        raise RequestRejected(
            ConnectorCode.WRONG_STRUCTURE, f"the root element is {root.tag[:40]}, not {ROOT}"
        )
    header = _child(root, HEADER, ROOT)
    date = _optional_text(header, "QualificationConfirmationDate", HEADER)
    if date is not None:
        _check_date(date, f"{HEADER}/QualificationConfirmationDate")
    identifier = _optional_text(header, "ArbitraryFileIdentifier", HEADER)
    if identifier is not None and len(identifier) > MAX_FILE_IDENTIFIER:
        raise RequestRejected(
            ConnectorCode.INVALID_VALUE,
            f"{HEADER}/ArbitraryFileIdentifier: longer than {MAX_FILE_IDENTIFIER} characters",
        )
    clinic_code = _optional_text(header, "MedicalInstitutionCode", HEADER)
    if clinic_code is not None:
        try:
            validate_clinic_code(clinic_code)
        except ValueError as exc:
            raise RequestRejected(
                ConnectorCode.INVALID_VALUE, f"{HEADER}/MedicalInstitutionCode: {exc}"
            ) from None
    return RequestHeader(
        confirmation_date=date,
        medical_institution_code=clinic_code,
        arbitrary_file_identifier=identifier,
    )


def read_query(info: ET.Element, path: str) -> InsuredCardQuery:
    """One `QualificationConfirmSearchInfo`. A 6-digit 国保 number, space- or zero-padded,
    is passed on in the answer's form: right-aligned in 8 with spaces (docs/numbers.md)."""
    values = {
        name: text
        for name in QUERY_ELEMENTS
        if (text := _optional_text(info, name, path)) is not None
    }
    for name in REQUIRED_QUERY_ELEMENTS:
        if name not in values:
            raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path}/{name} is missing")
    try:
        insurer = InsurerNumber.parse(values["InsurerNumber"])
    except InvalidInsurerNumber as exc:
        raise RequestRejected(
            ConnectorCode.INVALID_INSURER_NUMBER, f"{path}/InsurerNumber: {exc.reason}"
        ) from None
    try:
        query = InsuredCardQuery.model_validate({**values, "InsurerNumber": insurer.wire})
    except ValidationError as exc:
        # Field names and rules only: pydantic's own text would quote the value.
        problems = "; ".join(
            f"{path}/{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RequestRejected(ConnectorCode.INVALID_VALUE, problems) from None
    _check_date(query.Birthdate, f"{path}/Birthdate")
    return query


def _batch_entry(info: ET.Element, path: str) -> InsuredCardQuery | RejectedEntry:
    try:
        return read_query(info, path)
    except RequestRejected as exc:
        return RejectedEntry(exc.code, exc.detail, _echo(info))


def _echo(info: ET.Element) -> tuple[tuple[str, str], ...]:
    """A query's elements as they came, for the unit that refuses it."""
    return tuple(
        (name, text)
        for name in QUERY_ELEMENTS
        for child in info.findall(name)[:1]
        if len(child) == 0 and (text := (child.text or "").strip())
    )


def _registration(parent: ET.Element, path: str) -> RegistrationEntry:
    query = read_query(_child(parent, SEARCH_INFO, path), f"{path}/{SEARCH_INFO}")
    number = _optional_text(parent, REFERENCE_NUMBER, path)
    if number is None:
        raise RequestRejected(
            ConnectorCode.WRONG_STRUCTURE, f"{path}/{REFERENCE_NUMBER} is missing"
        )
    if not REFERENCE_NUMBER_TEXT.fullmatch(number):
        raise RequestRejected(
            ConnectorCode.INVALID_VALUE,
            f"{path}/{REFERENCE_NUMBER}: not 1–20 ASCII letters or digits",
        )
    return RegistrationEntry(query, number)


def _registration_entry(unit: ET.Element, path: str) -> RegistrationEntry | RejectedEntry:
    try:
        return _registration(unit, path)
    except RequestRejected as exc:
        infos = unit.findall(SEARCH_INFO)
        echo = _echo(infos[0]) if infos else ()
        number = unit.findall(REFERENCE_NUMBER)
        if len(number) == 1 and len(number[0]) == 0 and (text := (number[0].text or "").strip()):
            echo = (*echo, (REFERENCE_NUMBER, text))
        return RejectedEntry(exc.code, exc.detail, echo)


def _reception_number(root: ET.Element) -> str:
    body = _child(root, BODY, ROOT)
    path = f"{BODY}/{RECEPTION_NUMBER}"
    number = _optional_text(body, RECEPTION_NUMBER, BODY)
    if number is None:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path} is missing")
    if not RECEPTION_NUMBER_PATTERN.fullmatch(number):
        raise RequestRejected(
            ConnectorCode.INVALID_VALUE, f"{path}: not {RECEPTION_NUMBER_DIGITS} digits"
        )
    return number


def _search_infos(root: ET.Element, *, at_most_one: bool) -> list[ET.Element]:
    body = _child(root, BODY, ROOT)
    infos = body.findall(SEARCH_INFO)
    if not infos:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{BODY}/{SEARCH_INFO} is missing")
    if at_most_one and len(infos) > 1:
        raise RequestRejected(
            ConnectorCode.WRONG_STRUCTURE,
            f"{BODY}/{SEARCH_INFO} is repeated: several people go in an OQSmuquc01req file",
        )
    return infos


def _child(parent: ET.Element, tag: str, path: str) -> ET.Element:
    found = parent.findall(tag)
    if not found:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path}/{tag} is missing")
    if len(found) > 1:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path}/{tag} is repeated")
    return found[0]


def _optional_text(parent: ET.Element, tag: str, path: str) -> str | None:
    """The element's text without surrounding blanks; None when absent or empty."""
    found = parent.findall(tag)
    if not found:
        return None
    if len(found) > 1:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path}/{tag} is repeated")
    if len(found[0]) > 0:
        raise RequestRejected(ConnectorCode.WRONG_STRUCTURE, f"{path}/{tag} must hold text")
    return (found[0].text or "").strip() or None


def _check_date(value: str, path: str) -> None:
    try:
        valid = len(value) == 8 and value.isascii() and value.isdigit()
        dt.datetime.strptime(value, "%Y%m%d")  # a calendar date: no zone
    except ValueError:
        valid = False
    if not valid:
        raise RequestRejected(ConnectorCode.INVALID_VALUE, f"{path}: not a YYYYMMDD date")
