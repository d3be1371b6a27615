"""Answers the server gave whose file could not be written yet (a full disk, a read-only
`res/`). The request stays in `work/` and is tried again; the retry writes the answer kept
here instead of asking the server again, since the server records every lookup it answers."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from clinic_client.connector.answering import Answer

MAX_ANSWERS = 64
MAX_BYTES = 32 << 20  # a 一括照会 of 2,000 people answers in a few MiB


@dataclass(frozen=True, slots=True)
class _Kept:
    digest: bytes  # SHA-256 of the request file's bytes: the answer is to that content
    answer: Answer


class UnwrittenAnswers:
    """Answers by the name of their claim in `work/` and the digest of its content, in
    memory until their file is written. Bounded: past `max_answers` answers or `max_bytes`
    of answer files the oldest is forgotten, and its request is asked again (as after a
    restart)."""

    def __init__(self, *, max_answers: int = MAX_ANSWERS, max_bytes: int = MAX_BYTES) -> None:
        if max_answers < 1 or max_bytes < 1:
            raise ValueError("max_answers and max_bytes must be positive")
        self._max_answers = max_answers
        self._max_bytes = max_bytes
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, claim_name: str, content: bytes, answer: Answer) -> None:
        """Hold `answer` to the claim `claim_name` holding `content` until `forget`."""
        self.forget(claim_name)
        self._kept[claim_name] = _Kept(hashlib.sha256(content).digest(), answer)
        self._bytes += len(answer.data)
        while len(self._kept) > 1 and (
            len(self._kept) > self._max_answers or self._bytes > self._max_bytes
        ):
            _, oldest = self._kept.popitem(last=False)
            self._bytes -= len(oldest.answer.data)

    def find(self, claim_name: str, content: bytes) -> Answer | None:
        """The answer kept for this claim, if its content is still what was answered."""
        kept = self._kept.get(claim_name)
        if kept is None or kept.digest != hashlib.sha256(content).digest():
            return None
        return kept.answer

    def forget(self, claim_name: str) -> None:
        """The answer is written (or the claim is gone): let it go."""
        kept = self._kept.pop(claim_name, None)
        if kept is not None:
            self._bytes -= len(kept.answer.data)
