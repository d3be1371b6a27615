"""The client side of the card layer under whatever a card (or a broken reader) answers.

`tests/card_reader/test_emulator_fuzz.py` drives the emulated card with arbitrary commands;
here the roles turn: the card answers arbitrary bytes and status words, and every parser on
the way up — response APDUs, TLV headers, the ISO 7816 verbs, the JPKI and 券面事項入力補助
sessions — answers with a value or one of the layer's own errors (`CardError`, and
`TlvError` from the bare TLV functions), in a bounded number of commands, never leaking the
personal data it was parsing into an error message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from card_reader.core.apdu import SW, CommandApdu, ResponseApdu
from card_reader.core.connection import CardConnection
from card_reader.core.errors import CardError, MalformedResponse
from card_reader.core.iso7816 import MAX_EF_BYTES, MAX_RESPONSE_BYTES, IsoChannel
from card_reader.core.jpki import JpkiSession
from card_reader.core.kenhojo import BasicInfo, KenhojoSession, decode_my_number, encode_my_number
from card_reader.core.tlv import TlvError, der_total_length, first_tlv, iter_tlvs, parse_header
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from card_reader.transports.inprocess import InProcessConnection
from onshi_kernel.mynumber import is_valid_my_number

from .mutations import mutated
from .outcomes import attempt

FIXTURE_CARD = Path(__file__).resolve().parents[2] / "fixtures/issuer/cards/yamada-taro.json"
MY_NUMBER = "123456789018"
BASIC_INFO = BasicInfo(
    name="山田　太郎",
    address="東京都千代田区霞が関１－２－２",
    birth_date=dt.date(1980, 4, 1),
    sex="1",
)
# More commands than any exchange with a conforming card needs (a 32 KiB EF is 129 READ
# BINARY): a card that keeps the layer asking must be cut off well before this.
APDU_BUDGET = 2_000


class ScriptedCard:
    """A `CardConnection` whose answers hypothesis chooses, repeated in a cycle so that a
    card that never stops (61xx forever, an endless file) stays endless. Every command the
    layer sends must still be a well-formed short APDU."""

    def __init__(self, answers: list[tuple[bytes, int]]) -> None:
        self._answers = answers
        self.sent = 0

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        CommandApdu.from_bytes(apdu)
        self.sent += 1
        assert self.sent <= APDU_BUDGET, "the layer keeps asking a card that never finishes"
        return self._answers[(self.sent - 1) % len(self._answers)]

    def close(self) -> None:
        """Nothing to release."""


status_words = st.one_of(
    st.sampled_from([int(sw) for sw in SW]),
    st.sampled_from([0x6100, 0x6110, 0x61FF, 0x6C00, 0x6C04, 0x6CFF, 0x63C0, 0x63C2, 0x63CF]),
    st.integers(0, 0xFFFF),
)
der_like = st.builds(
    lambda header, rest: header + rest,
    st.sampled_from(
        [b"\x30\x82\x04\x47", b"\x30\x82\xff\xff", b"\x30\x84\xff\xff\xff\xff", b"\x30\x81"]
    ),
    st.binary(max_size=300),
)
card_data = st.one_of(
    st.binary(max_size=300),
    der_like,
    st.just(encode_my_number(MY_NUMBER)),
    st.just(BASIC_INFO.encode()),
    mutated(BASIC_INFO.encode()),
    st.binary(min_size=1000, max_size=5000),
)
# Plain successes are common, so that exchanges get past SELECT and VERIFY to the reads.
answer = st.one_of(
    st.just((b"", int(SW.OK))),
    st.tuples(card_data, st.just(int(SW.OK))),
    st.tuples(card_data, status_words),
)
answers = st.lists(answer, min_size=1, max_size=8)


def _jpki(call: Callable[[JpkiSession], Any]) -> Callable[[CardConnection], Any]:
    return lambda card: call(JpkiSession(card))


def _kenhojo(call: Callable[[KenhojoSession], Any]) -> Callable[[CardConnection], Any]:
    return lambda card: call(KenhojoSession(card))


def _after_pin(read: Callable[[KenhojoSession], Any]) -> Callable[[KenhojoSession], Any]:
    def verify_then_read(session: KenhojoSession) -> Any:
        session.verify_pin("1234")
        return read(session)

    return verify_then_read


OPERATIONS: dict[str, Callable[[CardConnection], Any]] = {
    "read auth certificate": _jpki(lambda s: s.read_auth_certificate()),
    "read sign certificate": _jpki(lambda s: s.read_sign_certificate("TESTPASS1")),
    "read token info": _jpki(lambda s: s.read_token_info()),
    "auth PIN tries left": _jpki(lambda s: s.auth_pin_tries_left()),
    "authenticate": _jpki(lambda s: s.authenticate("1234", bytes(32))),
    "change auth PIN": _jpki(lambda s: s.change_auth_pin("1234", "5678")),
    "read My Number": _kenhojo(_after_pin(KenhojoSession.read_my_number)),
    "read basic info": _kenhojo(_after_pin(KenhojoSession.read_basic_info)),
    "kenhojo tries left": _kenhojo(lambda s: s.pin_tries_left()),
}


def _check_result(operation: str, result: Any) -> None:
    """What a session hands up is sound, whatever the card said."""
    if operation in ("read auth certificate", "read sign certificate"):
        assert isinstance(result, bytes) and 0 < len(result) <= MAX_EF_BYTES
        assert der_total_length(result) == len(result)
    elif operation == "read token info":
        assert isinstance(result, bytes) and len(result) <= 32
    elif operation in ("auth PIN tries left", "kenhojo tries left"):
        assert isinstance(result, int) and 0 <= result <= 15
    elif operation == "authenticate":
        assert isinstance(result, bytes) and len(result) == 256
    elif operation == "read My Number":
        assert isinstance(result, str) and is_valid_my_number(result)
    elif operation == "read basic info":
        assert isinstance(result, BasicInfo)
    else:
        assert result is None


@settings(max_examples=1000, deadline=None)
@given(operation=st.sampled_from(sorted(OPERATIONS)), script=answers)
def test_any_card_answer_gives_a_value_or_a_card_error_in_bounded_commands(
    operation: str, script: list[tuple[bytes, int]]
) -> None:
    result = attempt(lambda: OPERATIONS[operation](ScriptedCard(script)), CardError)
    if isinstance(result, CardError):
        event(f"{operation}: {type(result).__name__}")
        assert str(result), "a card error says what went wrong"
        assert MY_NUMBER not in str(result) and BASIC_INFO.name not in str(result)
    else:
        event(f"{operation}: answered")
        _check_result(operation, result)


@dataclass(frozen=True)
class Damage:
    """What happens to one answer of an honest card on its way to the layer."""

    cut: int | None  # the data cut to this many bytes
    flip: tuple[int, int] | None  # (position, XOR mask) within the data
    extra: bytes  # bytes appended to the data
    sw: int | None  # another status word

    def apply(self, data: bytes, sw: int) -> tuple[bytes, int]:
        damaged = bytearray(data[: self.cut] if self.cut is not None else data)
        if self.flip is not None and damaged:
            position, mask = self.flip
            damaged[position % len(damaged)] ^= mask
        return bytes(damaged) + self.extra, sw if self.sw is None else self.sw


class TamperingConnection:
    """The emulated card, with some of its answers damaged (a flaky reader, a bad card)."""

    def __init__(self, card: EmulatedCard, damages: dict[int, Damage]) -> None:
        self._inner = InProcessConnection(card)
        self._damages = damages
        self.sent = 0
        self.damaged = False

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self._inner.send_and_receive(apdu)
        damage = self._damages.get(self.sent)
        self.sent += 1
        assert self.sent <= APDU_BUDGET, "the layer keeps asking a card that never finishes"
        if damage is None:
            return data, sw
        damaged = damage.apply(data, sw)
        self.damaged = self.damaged or damaged != (data, sw)
        return damaged

    def close(self) -> None:
        self._inner.close()


damage = st.builds(
    Damage,
    cut=st.none() | st.integers(0, 300),
    flip=st.none() | st.tuples(st.integers(0, 2000), st.integers(1, 255)),
    extra=st.just(b"") | st.binary(min_size=1, max_size=300),
    sw=st.none() | status_words,
)
# The operations that leave the card as they found it (a correct PIN resets its counter).
HONEST_OPERATIONS = sorted(set(OPERATIONS) - {"change auth PIN"})


@pytest.fixture(scope="module")
def honest_card() -> EmulatedCard:
    """The committed test card, its counters changing in memory only."""
    return EmulatedCard(load_image(FIXTURE_CARD))


@pytest.fixture(scope="module")
def honest_answers(honest_card: EmulatedCard) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for operation in HONEST_OPERATIONS:
        answers[operation] = OPERATIONS[operation](TamperingConnection(honest_card, {}))
        _check_result(operation, answers[operation])
    return answers


@settings(max_examples=800, deadline=None)
@given(
    operation=st.sampled_from(HONEST_OPERATIONS),
    damages=st.dictionaries(st.integers(0, 12), damage, min_size=1, max_size=3),
)
def test_a_damaged_answer_of_a_real_card_gives_a_card_error_or_the_true_answer(
    honest_card: EmulatedCard,
    honest_answers: dict[str, Any],
    operation: str,
    damages: dict[int, Damage],
) -> None:
    connection = TamperingConnection(honest_card, damages)
    result = attempt(lambda: OPERATIONS[operation](connection), CardError)
    if isinstance(result, CardError):
        event(f"{operation}: {type(result).__name__}")
        holder = honest_answers["read basic info"]
        for secret in (honest_answers["read My Number"], holder.name, holder.address):
            assert secret not in str(result)
        return
    event(f"{operation}: answered{' despite damage' if connection.damaged else ''}")
    _check_result(operation, result)
    if not connection.damaged:
        assert result == honest_answers[operation]


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0x6100, 0x61FF), data=st.binary(max_size=256))
def test_a_card_that_keeps_answering_61xx_is_cut_off(first: int, data: bytes) -> None:
    card = ScriptedCard([(data, first)])
    with pytest.raises(MalformedResponse):
        IsoChannel(card).read_binary(0, 256)
    assert card.sent <= MAX_RESPONSE_BYTES // 256 + 2


@pytest.mark.parametrize("header", ["3082FFFF", "3084FFFFFFFF", "30830100FF"])
def test_a_certificate_header_claiming_more_than_an_ef_holds_is_refused_at_once(
    header: str,
) -> None:
    selected = (b"", 0x9000)
    card = ScriptedCard([selected, selected, (bytes.fromhex(header) + bytes(251), 0x9000)])
    with pytest.raises(MalformedResponse, match="larger than"):
        JpkiSession(card).read_auth_certificate()
    assert card.sent == 3  # SELECT AP, SELECT EF, one READ BINARY


@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_response_bytes_parse_or_are_malformed(raw: bytes) -> None:
    response = attempt(lambda: ResponseApdu.from_bytes(raw), MalformedResponse)
    if isinstance(response, MalformedResponse):
        assert len(raw) < 2
    else:
        assert response.to_bytes() == raw


tlv_bytes = st.one_of(
    st.binary(max_size=64),
    mutated(BASIC_INFO.encode(), max_edits=3),
    mutated(encode_my_number(MY_NUMBER), max_edits=3),
)


@settings(max_examples=500, deadline=None)
@given(data=tlv_bytes)
def test_any_bytes_give_tlvs_or_a_tlv_error(data: bytes) -> None:
    header = attempt(lambda: parse_header(data), TlvError)
    if not isinstance(header, TlvError):
        assert header.header_length <= len(data) and header.length >= 0
    tlvs = attempt(lambda: list(iter_tlvs(data)), TlvError)
    if not isinstance(tlvs, TlvError):
        assert sum(len(value) for _, value in tlvs) <= len(data)
    first = attempt(lambda: first_tlv(data), TlvError)
    if not isinstance(first, TlvError):
        assert len(first[1]) < len(data)
    for refused in (header, tlvs, first):
        assert not isinstance(refused, TlvError) or str(refused), "a TLV error says why"


@settings(max_examples=400, deadline=None)
@given(content=st.one_of(st.binary(max_size=40), mutated(encode_my_number(MY_NUMBER))))
def test_the_my_number_file_parses_or_is_malformed_without_its_digits(content: bytes) -> None:
    found = attempt(lambda: decode_my_number(content), MalformedResponse)
    if isinstance(found, MalformedResponse):
        message = str(found)
        assert not any(MY_NUMBER[i : i + 4] in message for i in range(9)), message
    else:
        assert is_valid_my_number(found)


@settings(max_examples=400, deadline=None)
@given(content=st.one_of(st.binary(max_size=200), mutated(BASIC_INFO.encode())))
def test_the_basic_info_file_parses_or_is_malformed_without_the_facts(content: bytes) -> None:
    decoded = attempt(lambda: BasicInfo.decode(content), MalformedResponse)
    if isinstance(decoded, MalformedResponse):
        message = str(decoded)
        for secret in ("山田", "太郎", "千代田", "霞が関", "1980", "0401"):
            # Neither as text nor as the escaped bytes a repr() of them would show.
            escaped = "".join(f"\\x{byte:02x}" for byte in secret.encode()[:2])
            assert secret not in message and escaped not in message, message
    else:
        assert BasicInfo.decode(decoded.encode()) == decoded
