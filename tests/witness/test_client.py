"""The witness client's reading of answers a real witness gives rarely (a failure on its side,
a 409 without a size, an answer that is not signature lines), over a mock transport."""

from __future__ import annotations

import httpx
import pytest

from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.witness.client import (
    WitnessClient,
    WitnessConflict,
    WitnessRefused,
    WitnessUnavailable,
)
from tests.witness.support import ORIGIN, Log

NOTE = Log(Ed25519Signer.generate(ORIGIN)).grow(3).note()


def _client(status: int, body: str, content_type: str = "text/plain") -> WitnessClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.content.startswith(b"old 2\n")
        return httpx.Response(status, text=body, headers={"Content-Type": content_type})

    return WitnessClient("http://witness.invalid", transport=httpx.MockTransport(answer))


def test_a_failure_on_the_witness_side_is_unavailable() -> None:
    with pytest.raises(WitnessUnavailable):
        _client(503, "busy").add_checkpoint(2, [bytes(32)], NOTE)


def test_a_409_with_a_size_is_a_conflict_and_without_one_a_refusal() -> None:
    with pytest.raises(WitnessConflict) as conflict:
        _client(409, "17\n", "text/x.tlog.size").add_checkpoint(2, [], NOTE)
    assert conflict.value.size == 17
    with pytest.raises(WitnessRefused) as refused:
        _client(409, "another root\n").add_checkpoint(2, [], NOTE)
    assert refused.value.status == 409
    with pytest.raises(WitnessRefused):
        _client(409, "seventeen\n", "text/x.tlog.size").add_checkpoint(2, [], NOTE)


def test_an_answer_that_is_not_signature_lines_is_refused() -> None:
    for body in ("", "hello\n", "— w1 AAAA"):
        with pytest.raises(WitnessRefused):
            _client(200, body).add_checkpoint(2, [], NOTE)
    assert _client(200, "— w1 AAAA\n— w2 BBBB\n").add_checkpoint(2, [], NOTE) == [
        "— w1 AAAA",
        "— w2 BBBB",
    ]
