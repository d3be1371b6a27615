"""Hypothesis strategies shared by the fuzz tests: an input turned slightly wrong.

Random bytes are refused at the first byte; the bugs live a few edits away from a valid
input, where a parser gets far before it meets the damage. These strategies start from a
real input and change a little of it, and hypothesis shrinks a failure back to one edit.
"""

from __future__ import annotations

from hypothesis import strategies as st

EDITS = ("set", "flip", "insert", "delete", "truncate", "duplicate")


@st.composite
def mutated(draw: st.DrawFn, original: bytes, max_edits: int = 4) -> bytes:
    """`original` after 1 to `max_edits` byte edits (set, flip a bit, insert, delete a run,
    cut the tail, repeat a run)."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, max_edits))):
        if not data:
            break
        edit = draw(st.sampled_from(EDITS))
        at = draw(st.integers(0, len(data) - 1))
        if edit == "set":
            data[at] = draw(st.integers(0, 255))
        elif edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "truncate":
            del data[at:]
        else:
            run = data[at : at + draw(st.integers(1, 16))]
            data[at:at] = run
    return bytes(data)


def mutations_of(originals: list[bytes], max_edits: int = 4) -> st.SearchStrategy[bytes]:
    """A mutation of one of `originals`."""
    return st.sampled_from(originals).flatmap(lambda original: mutated(original, max_edits))
