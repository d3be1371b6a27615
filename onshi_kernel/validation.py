"""One way to say what a request got wrong: each problem as the field it is in and the reason,
never the value sent (it may be a PIN, a My Number or a name)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Where FastAPI says a value came from; the field's own name is what a client needs.
_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})
SUMMARY_MAX_CHARS = 2000


def field_of(location: Iterable[int | str]) -> str:
    """A validation error's location as a dotted field name (`body` for the body itself)."""
    return ".".join(str(part) for part in location if part not in _REQUEST_PARTS) or "body"


def problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """pydantic's errors as `{"field", "reason"}` pairs, values left out."""
    return [
        {"field": field_of(error.get("loc", ())), "reason": str(error.get("msg", ""))}
        for error in errors
    ]


def summary(errors: Iterable[Mapping[str, Any]]) -> str:
    """The same problems in one line, `field: reason; …`, at most `SUMMARY_MAX_CHARS`."""
    return one_line(problems(errors))


def one_line(found: Iterable[Mapping[str, str]]) -> str:
    """`{"field", "reason"}` problems as one line, `field: reason; …`, at most
    `SUMMARY_MAX_CHARS`."""
    text = "; ".join(f"{p['field']}: {p['reason']}" for p in found)
    return text[:SUMMARY_MAX_CHARS]
