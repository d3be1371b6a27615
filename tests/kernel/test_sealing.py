"""Sealed values: they open with the same secret, purpose and place only."""

from __future__ import annotations

import pytest

from onshi_kernel.sealing import NONCE_BYTES, SealBroken, Sealer

SECRET = b"s" * 32
PLACE = b"1234567890123456/0/unit"


def test_a_sealed_value_opens_where_it_was_sealed() -> None:
    sealer = Sealer(SECRET, "batch entries")
    sealed = sealer.seal("山田　太郎 19800401".encode(), PLACE)
    assert "山田".encode() not in sealed and b"19800401" not in sealed
    assert sealer.open(sealed, PLACE) == "山田　太郎 19800401".encode()


def test_two_seals_of_one_value_differ() -> None:
    sealer = Sealer(SECRET, "batch entries")
    assert sealer.seal(b"x", PLACE) != sealer.seal(b"x", PLACE)  # a fresh nonce each time


@pytest.mark.parametrize(
    ("opener", "place"),
    [
        (Sealer(SECRET, "batch entries"), b"1234567890123456/1/unit"),  # moved to another row
        (Sealer(SECRET, "another purpose"), PLACE),
        (Sealer(b"t" * 32, "batch entries"), PLACE),  # another secret
    ],
    ids=["another-place", "another-purpose", "another-secret"],
)
def test_a_sealed_value_does_not_open_elsewhere(opener: Sealer, place: bytes) -> None:
    sealed = Sealer(SECRET, "batch entries").seal(b"value", PLACE)
    with pytest.raises(SealBroken):
        opener.open(sealed, place)


@pytest.mark.parametrize("cut", [0, NONCE_BYTES, NONCE_BYTES + 5])
def test_an_altered_or_cut_value_does_not_open(cut: int) -> None:
    sealer = Sealer(SECRET, "batch entries")
    sealed = bytearray(sealer.seal(b"value", PLACE))
    sealed[-1] ^= 1
    with pytest.raises(SealBroken):
        sealer.open(bytes(sealed), PLACE)
    with pytest.raises(SealBroken):
        sealer.open(bytes(sealed[:cut]), PLACE)
