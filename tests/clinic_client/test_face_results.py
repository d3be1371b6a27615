"""A card check at the front desk becomes `face/OQSsiquc01res_face_<unique>_<time>.xml`
(docs/file-interface.md), written whole, in the encoding the receipt computer reads."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from card_reader.issuance.residents import Resident
from clinic_client.connector import write_face_result
from qualification_server.contract.schemas import EligibilityAnswer
from tests.support.cards import PIN
from tests.support.world import World

from .conftest import read_answer

pytestmark = pytest.mark.db

FACE_NAME = re.compile(r"^OQSsiquc01res_face_[^_]+_(\d{14})\.xml$")
# What clinic software that watches face/ matches; it ignores any other name.
WATCHED = re.compile(r"_(\d{14})\.xml$")


@pytest.fixture
def card_answer(world: World) -> EligibilityAnswer:
    """A real card check (PIN proof) of a registered card holder."""
    world.register("yamada-taro")
    status, body = world.check("yamada-taro")
    assert status == 200, body
    return EligibilityAnswer.model_validate(body)


@pytest.mark.parametrize(
    ("encoding", "declared", "identifier"),
    [("utf-8", "UTF-8", "0"), ("shift_jis", "Shift_JIS", "1"), ("Shift_JIS", "Shift_JIS", "1")],
)
def test_a_card_check_is_written_to_face_in_the_chosen_encoding(
    tmp_path: Path, card_answer: EligibilityAnswer, encoding: str, declared: str, identifier: str
) -> None:
    path = write_face_result(tmp_path, card_answer, encoding=encoding)
    assert path.parent == tmp_path / "face"
    match = FACE_NAME.match(path.name)
    assert match is not None
    assert match.group(1) == card_answer.MessageHeader.ProcessExecutionTime
    found = read_answer(path)
    assert found.prolog_encoding == declared
    assert found.text("MessageHeader/CharacterCodeIdentifier") == identifier
    assert found.text("MessageHeader/ReferenceClassification") == "1"  # by card
    assert found.text("MessageBody/QualificationValidity") == "1"
    (result,) = found.all("MessageBody/ResultList/ResultOfQualificationConfirmation")
    assert result.findtext("Name") == "山田 太郎"
    assert result.findtext("InsuredCardSymbol") == "記号12"
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing half-written left behind


def test_the_file_name_ends_with_the_answers_time_as_clinic_software_expects(
    tmp_path: Path, card_answer: EligibilityAnswer
) -> None:
    name = write_face_result(tmp_path, card_answer).name
    match = FACE_NAME.match(name)
    assert match is not None, name
    assert match.group(1) == card_answer.MessageHeader.ProcessExecutionTime
    watched = WATCHED.search(name)
    assert watched is not None
    assert watched.group(1) == card_answer.MessageHeader.ProcessExecutionTime


def test_two_checks_in_the_same_second_get_two_files(
    tmp_path: Path, card_answer: EligibilityAnswer
) -> None:
    first = write_face_result(tmp_path, card_answer)
    second = write_face_result(tmp_path, card_answer)
    assert first != second
    assert sorted((tmp_path / "face").iterdir()) == sorted([first, second])


def test_an_encoding_the_receipt_computer_cannot_read_is_a_caller_error(
    tmp_path: Path, card_answer: EligibilityAnswer
) -> None:
    with pytest.raises(ValueError, match="UTF-8 or Shift_JIS"):
        write_face_result(tmp_path, card_answer, encoding="euc-jp")
    assert not (tmp_path / "face").exists()  # refused before anything was written


def test_a_smartphone_check_says_so_in_its_face_result(
    tmp_path: Path, world: World, residents: dict[str, Resident]
) -> None:
    start = world.clock.now - dt.timedelta(minutes=1)  # the world's clock stands still
    world.issuer.issue_smartphone(residents["yamada-taro"], pin=PIN, not_before=start)
    world.register("yamada-taro")
    status, body = world.check("yamada-taro-phone")
    assert status == 200, body
    found = read_answer(write_face_result(tmp_path, EligibilityAnswer.model_validate(body)))
    assert found.text("MessageHeader/CredentialClassification") == "2"  # a smartphone
    assert found.text("MessageBody/QualificationValidity") == "1"


def test_a_card_check_says_card_in_its_face_result(
    tmp_path: Path, card_answer: EligibilityAnswer
) -> None:
    found = read_answer(write_face_result(tmp_path, card_answer))
    assert found.text("MessageHeader/CredentialClassification") == "1"
