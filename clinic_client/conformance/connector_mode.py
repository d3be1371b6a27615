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

from clinic_client.conformance.kit import INSURER_A, INSURER_B
from clinic_client.conformance.scenarios import Scenario, Unexpected, expect
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
    symbol_element = f"<InsuredCardSymbol>{symbol}</InsuredCardSymbol>" if symbol else ""
    return (
        f"<QualificationConfirmSearchInfo><InsurerNumber>{insurer}</InsurerNumber>"
        f"{symbol_element}<InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>"
        f"<InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>{birth}</Birthdate>"
        "</QualificationConfirmSearchInfo>"
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
    expect(name == "適合 一郎", f"Name {name!r}")


def shift_jis_lookup(ctx: FolderContext) -> None:
    """A Shift_JIS request with a zero-padded 国保 number: answered in Shift_JIS, the number
    right-aligned with spaces, QualificationValidity 3 for the old insured number."""
    body = search_info("00" + INSURER_B, "9401", "19750909")
    answer = ctx.request("siquc01", body, encoding="Shift_JIS")
    expect(text(answer, "MessageHeader/CharacterCodeIdentifier") == "1", "not marked Shift_JIS")
    validity = text(answer, "MessageBody/QualificationValidity")
    expect(validity == "3", f"QualificationValidity {validity!r}")
    result = "MessageBody/ResultList/ResultOfQualificationConfirmation"
    number = text(answer, f"{result}/InsurerNumber")
    expect(number == INSURER_B.rjust(8), f"InsurerNumber {number!r}")


def refused_lookup(ctx: FolderContext) -> None:
    """A wrong birth date gets an error answer (SegmentOfResult 9, ErrorCode Q4001)."""
    answer = ctx.request("siquc01", search_info(INSURER_A, "9101", "19800402"), encoding="UTF-8")
    expect(text(answer, "MessageHeader/SegmentOfResult") == "9", "SegmentOfResult is not 9")
    expect(text(answer, "MessageHeader/ErrorCode") == Code.INSURED_NUMBER_NOT_MATCHED,
           f"ErrorCode {text(answer, 'MessageHeader/ErrorCode')!r}")  # fmt: skip


def malformed_request(ctx: FolderContext) -> None:
    """A file that is not XML gets an error answer, never silence."""
    ident = uuid.uuid4().hex[:12]
    answer = ctx.drop(f"OQSsiquc01req_{ident}.xml", b"<XmlMsg><MessageHeader>",
                      f"OQSsiquc01res_{ident}.xml")  # fmt: skip
    expect(text(answer, "MessageHeader/SegmentOfResult") == "9", "SegmentOfResult is not 9")
    expect(bool(text(answer, "MessageHeader/ErrorCode")), "no ErrorCode")


def batch_file(ctx: FolderContext) -> None:
    """A Shift_JIS 一括照会 of three: two answered, one error, counted in the header."""
    body = (search_info(INSURER_A, "9101", "19800401") + search_info(INSURER_A, "9201", "19900615")
            + search_info(INSURER_A, "0000", "20000101"))  # fmt: skip
    answer = ctx.request("muquc01", body, encoding="Shift_JIS")
    names = ("NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError")
    counts = tuple(text(answer, f"MessageHeader/{n}") for n in names)
    expect(counts == ("3", "2", "1"), f"header counts {counts}")


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
    )
)

__all__ = ["CONNECTOR_CATALOGUE", "FolderContext", "FolderScenario", "Scenario"]
