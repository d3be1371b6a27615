"""Hypothesis drives the emulated card with arbitrary APDUs and sequences of them: it always
answers with a status word from ISO 7816-4's set and never raises."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card_reader.core.apdu import SW, SW_COUNTER
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image

VALID_SWS = {int(sw) for sw in SW} | {SW_COUNTER | n for n in range(16)}


@pytest.fixture(scope="module")
def fuzz_card(issuer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EmulatedCard:
    path = tmp_path_factory.mktemp("fuzz") / "card.json"
    shutil.copy(issuer_dir / "cards" / "yamada-taro.json", path)
    return EmulatedCard(load_image(path))  # counters change in memory only


headers = st.tuples(
    st.sampled_from([0x00, 0x80, 0x0C, 0xFF]) | st.integers(0, 255),
    st.sampled_from([0xA4, 0xB0, 0x20, 0x24, 0x2A, 0xC0]) | st.integers(0, 255),
    st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x80]) | st.integers(0, 255),
    st.sampled_from([0x00, 0x0C, 0x80]) | st.integers(0, 255),
).map(bytes)
bodies = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.sampled_from(
        [
            bytes.fromhex("0AD392F000260100000001"),
            bytes.fromhex("0AD3921000310001010408"),
            bytes.fromhex("02000A"),
            bytes.fromhex("020018"),
            bytes.fromhex("020017"),
            bytes.fromhex("0431323334"),
            bytes.fromhex("0439393939"),
        ]
    ),
    st.binary(min_size=1, max_size=256).map(lambda b: bytes([len(b) % 256]) + b),
    st.binary(max_size=300),
)
apdus = st.one_of(st.binary(max_size=300), st.builds(lambda h, b: h + b, headers, bodies))


def assert_iso_answer(response: bytes) -> None:
    assert len(response) >= 2
    assert int.from_bytes(response[-2:], "big") in VALID_SWS


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apdu=apdus)
def test_any_apdu_gets_a_status_word(fuzz_card: EmulatedCard, apdu: bytes) -> None:
    fuzz_card.reset()
    assert_iso_answer(fuzz_card.process(apdu))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(apdus, min_size=1, max_size=12))
def test_any_sequence_of_apdus_gets_status_words(
    fuzz_card: EmulatedCard, sequence: list[bytes]
) -> None:
    fuzz_card.reset()
    for apdu in sequence:
        assert_iso_answer(fuzz_card.process(apdu))
