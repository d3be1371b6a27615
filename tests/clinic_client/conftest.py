"""The connector against a real qualification server app (the `world` of the server tests):
real request files in a temporary directory, real answers parsed back."""

from __future__ import annotations

import ctypes
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from clinic_client.api import QualificationClient
from clinic_client.connector.spool import Spool
from qualification_server.models import AccessRecord
from tests.support.world import KYOKAI, World

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "connector"
CONFIRMATION_DATE = "20260415"


@pytest.fixture
def client(world: World) -> QualificationClient:
    """The clinic's client, talking to the world's server app in process."""
    return QualificationClient("http://testserver", world.clinic_token, http=world.client)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool.open(tmp_path)


def search_info(
    number: str,
    birthdate: str,
    *,
    insurer: str = KYOKAI.digits,
    symbol: str | None = None,
    branch: str | None = None,
    limit_consent: str | None = None,
) -> str:
    """One QualificationConfirmSearchInfo element (docs/file-interface.md), as receipt
    computers write it: without InsuredBranchNumber unless `branch` is given."""
    parts = [f"<InsurerNumber>{insurer}</InsurerNumber>"]
    if symbol is not None:
        parts.append(f"<InsuredCardSymbol>{symbol}</InsuredCardSymbol>")
    parts += [
        f"<InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>",
    ]
    if branch is not None:
        parts.append(f"<InsuredBranchNumber>{branch}</InsuredBranchNumber>")
    parts.append(f"<Birthdate>{birthdate}</Birthdate>")
    if limit_consent is not None:
        parts.append(
            "<LimitApplicationCertificateRelatedConsFlg>"
            f"{limit_consent}</LimitApplicationCertificateRelatedConsFlg>"
        )
    return f"<QualificationConfirmSearchInfo>{''.join(parts)}</QualificationConfirmSearchInfo>"


def request_file(
    *infos: str,
    encoding: str = "UTF-8",
    identifier: str = "rc-1",
    date: str = CONFIRMATION_DATE,
    clinic_code: str = "1310000017",
) -> bytes:
    """A request document as a receipt computer writes it, encoded as its prolog declares
    (`encoding=""` leaves the declaration out)."""
    declaration = f' encoding="{encoding}"' if encoding else ""
    text = (
        f'<?xml version="1.0"{declaration}?>\n<XmlMsg><MessageHeader>'
        f"<QualificationConfirmationDate>{date}</QualificationConfirmationDate>"
        f"<MedicalInstitutionCode>{clinic_code}</MedicalInstitutionCode>"
        f"<ArbitraryFileIdentifier>{identifier}</ArbitraryFileIdentifier>"
        f"</MessageHeader><MessageBody>{''.join(infos)}</MessageBody></XmlMsg>\n"
    )
    return text.encode("cp932" if encoding.lower() == "shift_jis" else "utf-8")


@dataclass(frozen=True)
class AnswerFile:
    """An answer file as the receipt computer reads it."""

    prolog_encoding: str
    root: ET.Element

    def text(self, path: str) -> str | None:
        element = self.root.find(path)
        return None if element is None else element.text

    def all(self, path: str) -> list[ET.Element]:
        return self.root.findall(path)


CODECS = {"UTF-8": "utf-8", "Shift_JIS": "cp932"}


def read_answer(path: Path) -> AnswerFile:
    """Decode an answer as its prolog declares, strictly, and parse it."""
    data = path.read_bytes()
    first_line = data.split(b"\n", 1)[0].decode("ascii")
    declared = first_line.split('encoding="', 1)[1].split('"', 1)[0]
    # expat reads no multi-byte encoding but UTF-8: decode first, as a Windows reader would.
    root = ET.fromstring(data.decode(CODECS[declared]))
    assert root.tag == "XmlMsg"
    return AnswerFile(declared, root)


def lookups_recorded(world: World) -> int:
    """How many lookups the server recorded in its access log."""
    with world.deps.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AccessRecord)) or 0)


T = TypeVar("T")
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def run_without_file_powers(work: Callable[[], T]) -> T:
    """`work()` in a thread that has given up, for good, the capabilities that let root read,
    link or move any file: it meets file permissions as any other user does. Capabilities
    belong to a thread on Linux, so the rest of the test run keeps them. (Not root: nothing
    to give up; the file is the test's own and mode 000 stops it alike.)"""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            header, data = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
            if libc.capget(ctypes.byref(header), data) != 0:
                raise OSError(ctypes.get_errno(), "capget")
            keep = ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_FOWNER))
            data[0].effective &= keep
            data[0].permitted &= keep
            data[0].inheritable &= keep
            if libc.capset(ctypes.byref(header), data) != 0:
                raise OSError(ctypes.get_errno(), "capset")
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "timed out"
    if failure:
        raise failure[0]
    return outcome[0]
