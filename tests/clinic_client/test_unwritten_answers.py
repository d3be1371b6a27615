"""The answers kept while their file cannot be written: found again only for the content
they answered, and bounded in number and in bytes, the oldest forgotten first. Pure."""

from __future__ import annotations

import pytest

from clinic_client.connector.answering import Answer
from clinic_client.connector.unwritten import UnwrittenAnswers

REQUEST = b"<XmlMsg>the request as it was answered</XmlMsg>"


def an_answer(size: int = 10) -> Answer:
    return Answer("OQSsiquc01res_1.xml", b"a" * size, "validity 1")


def test_a_kept_answer_is_found_for_its_claim_and_content_until_forgotten() -> None:
    unwritten, answer = UnwrittenAnswers(), an_answer()
    unwritten.keep("OQSsiquc01req_1.xml", REQUEST, answer)
    assert unwritten.find("OQSsiquc01req_1.xml", REQUEST) is answer
    assert unwritten.find("OQSsiquc01req_2.xml", REQUEST) is None
    unwritten.forget("OQSsiquc01req_1.xml")
    assert unwritten.find("OQSsiquc01req_1.xml", REQUEST) is None
    assert len(unwritten) == 0


def test_a_kept_answer_is_not_found_for_other_content_under_the_same_name() -> None:
    unwritten = UnwrittenAnswers()
    unwritten.keep("OQSsiquc01req_1.xml", REQUEST, an_answer())
    assert unwritten.find("OQSsiquc01req_1.xml", REQUEST + b" ") is None


def test_past_its_number_of_answers_the_oldest_is_forgotten() -> None:
    unwritten = UnwrittenAnswers(max_answers=2)
    for number in (1, 2, 3):
        unwritten.keep(f"OQSsiquc01req_{number}.xml", REQUEST, an_answer())
    assert len(unwritten) == 2
    assert unwritten.find("OQSsiquc01req_1.xml", REQUEST) is None
    assert unwritten.find("OQSsiquc01req_3.xml", REQUEST) is not None


def test_past_its_bytes_the_oldest_is_forgotten_and_the_newest_always_kept() -> None:
    unwritten = UnwrittenAnswers(max_bytes=25)
    unwritten.keep("OQSsiquc01req_1.xml", REQUEST, an_answer(10))
    unwritten.keep("OQSsiquc01req_2.xml", REQUEST, an_answer(10))
    unwritten.keep("OQSsiquc01req_3.xml", REQUEST, an_answer(10))
    assert len(unwritten) == 2
    assert unwritten.find("OQSsiquc01req_1.xml", REQUEST) is None
    unwritten.keep("OQSsiquc01req_4.xml", REQUEST, an_answer(100))  # larger than the bound
    assert len(unwritten) == 1
    assert unwritten.find("OQSsiquc01req_4.xml", REQUEST) is not None


def test_keeping_again_under_a_name_replaces_the_answer_without_counting_it_twice() -> None:
    unwritten = UnwrittenAnswers(max_bytes=15)
    unwritten.keep("OQSsiquc01req_1.xml", REQUEST, an_answer(10))
    unwritten.keep("OQSsiquc01req_1.xml", REQUEST, an_answer(10))
    unwritten.keep("OQSsiquc01req_2.xml", REQUEST, an_answer(5))
    assert len(unwritten) == 2


@pytest.mark.parametrize(("answers", "size"), [(0, 1), (1, 0)])
def test_the_bounds_must_be_positive(answers: int, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        UnwrittenAnswers(max_answers=answers, max_bytes=size)
