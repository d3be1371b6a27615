"""The kit's second mode: drive a receipt-computer connector through its folders
(docs/file-interface.md) with request files in UTF-8 and Shift_JIS, and check the answer
files it writes."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clinic_client.conformance.kit import INSURER_A, INSURER_B, KOKUHO_SYMBOL
from clinic_client.conformance.scenarios import Scenario, Unexpected, expect
from clinic_client.connector.names import VISUAL_PASSCODE_KIND
from qualification_server.contract.codes import Code

ANSWER_WAIT_S = 20.0


@dataclass
class FolderContext:
    """The connector's folder and the clinic code its requests carry."""

    directory: Path
    clinic_code: str

    def request(self, kind: str, body: str, *, encoding: str, date: str = "") -> ET.Element:
        """Drop a request file into req/, wait for its answer in res/, parse it."""
        ident = uuid.uuid4().hex[:12]
        header = (
            f"<MessageHeader><QualificationConfirmationDate>{date or time.strftime('%Y%m%d')}"
            f"</QualificationConfirmationDate><MedicalInstitutionCode>{self.clinic_code}"
            f"</MedicalInstitutionCode><ArbitraryFileIdentifier>{ident}"
            "</ArbitraryFileIdentifier></MessageHeader>"
        )
        xml = (
            f'<?xml version="1.0" encoding="{encoding}"?>\n'
            f"<XmlMsg>{header}<MessageBody>{body}</MessageBody></XmlMsg>\n"
        )
        codec = "cp932" if encoding.lower() == "shift_jis" else "utf-8"
        return self.drop(
            f"OQS{kind}req_{ident}.xml", xml.encode(codec), f"OQS{kind}res_{ident}.xml"
        )

    def drop(self, name: str, data: bytes, answer_name: str) -> ET.Element:
        req = self.directory / "req"
        temporary = req / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.rename(req / name)  # appears whole, as a receipt computer should write it
        answer = self.directory / "res" / answer_name
        deadline = time.monotonic() + ANSWER_WAIT_S
        while not answer.exists():
            if time.monotonic() > deadline:
                raise Unexpected(f"no answer {answer_name} within {ANSWER_WAIT_S:g} s")
            time.sleep(0.1)
        raw = answer.read_bytes()
        if b"<!DOCTYPE" in raw:
            raise Unexpected(f"{answer_name} carries a DOCTYPE: answers must not")
        declared = raw[:100].lower()
        text = raw.decode("cp932" if b"shift_jis" in declared else "utf-8")
        # ElementTree refuses a str that still declares an encoding: drop the prolog.
        body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
        return ET.fromstring(body)  # noqa: S314 - no DOCTYPE (checked above), so no entities


def search_info(insurer: str, number: str, birth: str, symbol: str = "") -> str:
    """A query as receipt computers write it: no InsuredBranchNumber (枝番)."""
    symbol_element = f"<InsuredCardSymbol>{symbol}</InsuredCardSymbol>" if symbol else ""
    return (
        f"<QualificationConfirmSearchInfo><InsurerNumber>{insurer}</InsurerNumber>"
        f"{symbol_element}<InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>"
        f"<Birthdate>{birth}</Birthdate></QualificationConfirmSearchInfo>"
    )


def text(root: ET.Element, path: str) -> str:
    found = root.find(path)
    return (found.text or "") if found is not None else ""


def utf8_lookup(ctx: FolderContext) -> None:
    """A UTF-8 個別照会 is answered in UTF-8 with QualificationValidity 1."""
    answer = ctx.request("siquc01", search_info(INSURER_A, "9101", "19800401"), encoding="UTF-8")
    validity = text(answer, "MessageBody/QualificationValidity")
    expect(validity == "1", f"QualificationValidity {validity!r}")
    name = text(answer, "MessageBody/ResultList/ResultOfQualificationConfirmation/Name")
    expect(name == "適合　一郎", f"Name {name!r}")


def shift_jis_lookup(ctx: FolderContext) -> None:
    """A Shift_JIS request with a zero-padded 国保 number and a 記号 of half-width kana and ①:
    answered in Shift_JIS, the number right-aligned with spaces, the 記号 as sent,
    NameKana in half-width katakana, QualificationValidity 3 for the old insured number."""
    body = search_info("00" + INSURER_B, "9401", "19750909", symbol=KOKUHO_SYMBOL)
    answer = ctx.request("siquc01", body, encoding="Shift_JIS")
    expect(text(answer, "MessageHeader/CharacterCodeIdentifier") == "1", "not marked Shift_JIS")
    validity = text(answer, "MessageBody/QualificationValidity")
    expect(validity == "3", f"QualificationValidity {validity!r}")
    result = "MessageBody/ResultList/ResultOfQualificationConfirmation"
    number = text(answer, f"{result}/InsurerNumber")
    expect(number == INSURER_B.rjust(8), f"InsurerNumber {number!r}")
    symbol = text(answer, f"{result}/InsuredCardSymbol")
    expect(symbol == KOKUHO_SYMBOL, f"InsuredCardSymbol {symbol!r}")
    kana = text(answer, f"{result}/NameKana")
    expect(bool(kana) and all(c == " " or "\uff61" <= c <= "\uff9f" for c in kana),
           f"NameKana {kana!r} is not half-width katakana")  # fmt: skip


def refused_lookup(ctx: FolderContext) -> None:
    """A wrong birth date gets an error answer (SegmentOfResult 9, ErrorCode Q4001) whose
    header carries MedicalInstitutionCode."""
    answer = ctx.request("siquc01", search_info(INSURER_A, "9101", "19800402"), encoding="UTF-8")
    expect(text(answer, "MessageHeader/SegmentOfResult") == "9", "SegmentOfResult is not 9")
    code = text(answer, "MessageHeader/MedicalInstitutionCode")
    expect(code == ctx.clinic_code, f"MedicalInstitutionCode {code!r}")
    expect(text(answer, "MessageHeader/ErrorCode") == Code.INSURED_NUMBER_NOT_MATCHED,
           f"ErrorCode {text(answer, 'MessageHeader/ErrorCode')!r}")  # fmt: skip


def malformed_request(ctx: FolderContext) -> None:
    """A file that is not XML gets an error answer, never silence, its header carrying the
    connector's MedicalInstitutionCode though the request could not be read."""
    ident = uuid.uuid4().hex[:12]
    answer = ctx.drop(f"OQSsiquc01req_{ident}.xml", b"<XmlMsg><MessageHeader>",
                      f"OQSsiquc01res_{ident}.xml")  # fmt: skip
    expect(text(answer, "MessageHeader/SegmentOfResult") == "9", "SegmentOfResult is not 9")
    expect(bool(text(answer, "MessageHeader/ErrorCode")), "no ErrorCode")
    code = text(answer, "MessageHeader/MedicalInstitutionCode")
    expect(code == ctx.clinic_code, f"MedicalInstitutionCode {code!r}")


def reference_number_file(ctx: FolderContext) -> None:
    """照会番号登録 by file (OQSsiimm01): registered, then the clinic's 個別照会 answer carries
    the number as ReferenceNumber."""
    info = search_info(INSURER_A, "9201", "19900615")
    registered = ctx.request(
        "siimm01", f"{info}<ReferenceNumber>K0201</ReferenceNumber>", encoding="Shift_JIS"
    )
    status = text(registered, "MessageBody/ProcessingResultStatus")
    expect(status == "1", f"ProcessingResultStatus {status!r}")
    answer = ctx.request("siquc01", info, encoding="Shift_JIS")
    numbers = {
        r.findtext("ReferenceNumber")
        for r in answer.findall("MessageBody/ResultList/ResultOfQualificationConfirmation")
    }
    expect(numbers == {"K0201"}, f"ReferenceNumber {sorted(map(str, numbers))}")


def batch_file(ctx: FolderContext) -> None:
    """A Shift_JIS 一括照会 of three in two steps: OQSmuquc01res carries a 16-digit
    ReceptionNumber; OQSmuquc02req with it answers 処理中 (SegmentOfResult 2) or, within a
    minute, the result: one BulkConfirmUnit per entry in order, each holding the query
    echoed, two answered and one error, counted in the header."""
    body = (search_info(INSURER_A, "9101", "19800401") + search_info(INSURER_A, "9201", "19900615")
            + search_info(INSURER_A, "0000", "20000101"))  # fmt: skip
    receipt = ctx.request("muquc01", body, encoding="Shift_JIS")
    number = text(receipt, "MessageHeader/ReceptionNumber")
    expect(len(number) == 16 and number.isdigit(), f"ReceptionNumber {number!r}")
    received = text(receipt, "MessageHeader/NumberOfProcessingResult")
    expect(received == "3", f"NumberOfProcessingResult {received!r}")
    deadline = time.monotonic() + 60
    while True:
        result = ctx.request(
            "muquc02", f"<ReceptionNumber>{number}</ReceptionNumber>", encoding="Shift_JIS"
        )
        segment = text(result, "MessageHeader/SegmentOfResult")
        if segment != "2":
            break
        expect(result.find("MessageBody/BulkConfirmUnit") is None, "処理中 with units")
        expect(time.monotonic() < deadline, "still 処理中 after 60 s")
        time.sleep(0.5)
    expect(segment == "1", f"SegmentOfResult {segment!r}")
    expect(text(result, "MessageHeader/ReceptionNumber") == number, "another ReceptionNumber")
    names = ("NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError")
    counts = tuple(text(result, f"MessageHeader/{n}") for n in names)
    expect(counts == ("3", "2", "1"), f"header counts {counts}")
    units = result.findall("MessageBody/BulkConfirmUnit")
    echoed = [text(u, "QualificationConfirmSearchInfo/InsuredIdentificationNumber") for u in units]
    expect(echoed == ["9101", "9201", "0000"], f"units in the order {echoed}")
    statuses = [text(u, "ProcessingResultStatus") for u in units]
    expect(statuses == ["1", "1", "2"], f"ProcessingResultStatus {statuses}")
    answered = units[0].find("ResultOfQualificationConfirmation/Name")
    expect(answered is not None, "the first unit holds no ResultOfQualificationConfirmation")


def passcode_file(ctx: FolderContext) -> None:
    """目視確認用パスコード取得 by file (OQS-IF-049/050; the name OQSsipcd01 is chosen,
    unconfirmed): answered with SegmentOfResult 1, the clinic's MedicalInstitutionCode, an
    8-digit VisualConfirmationPasscode and its 14-digit expiration time."""
    answer = ctx.request(VISUAL_PASSCODE_KIND.removeprefix("OQS"), "", encoding="Shift_JIS")
    expect(text(answer, "MessageHeader/SegmentOfResult") == "1", "SegmentOfResult is not 1")
    code = text(answer, "MessageHeader/MedicalInstitutionCode")
    expect(code == ctx.clinic_code, f"MedicalInstitutionCode {code!r}")
    passcode = text(answer, "MessageBody/VisualConfirmationPasscode")
    expect(len(passcode) == 8 and passcode.isdigit(), "VisualConfirmationPasscode not 8 digits")
    until = text(answer, "MessageBody/VisualConfirmationPasscodeExpirationTime")
    expect(len(until) == 14 and until.isdigit(), f"expiration time {until!r}")


@dataclass(frozen=True)
class FolderScenario:
    id: str
    run: Callable[[FolderContext], None]

    @property
    def expectation(self) -> str:
        return (self.run.__doc__ or "").strip()


CONNECTOR_CATALOGUE = tuple(
    FolderScenario(f"connector-{name}", fn)
    for name, fn in (
        ("utf8-lookup", utf8_lookup),
        ("shift-jis-lookup", shift_jis_lookup),
        ("refused-lookup", refused_lookup),
        ("malformed-request", malformed_request),
        ("batch", batch_file),
        ("reference-number", reference_number_file),
        ("passcode", passcode_file),
    )
)

__all__ = ["CONNECTOR_CATALOGUE", "FolderContext", "FolderScenario", "Scenario"]
