"""The error pattern every onshi package follows: numbered codes, a catalogue of their texts,
one exception base, and the body an HTTP answer carries (`http_errors` makes the answer).

A package's codes are a `StrEnum` (`Q1005`, `R3002`, `C1001`): a code never changes meaning,
and a new one is added at the end of its hundred. Its catalogue gives each code a Japanese
text for whoever is in front of the screen (the front desk, the insurer's operator) and an
English one for IT; a code answered over HTTP also has its status. `catalogue` refuses, at
import, an enum with a member that has no entry. Nothing here imports a web framework: a
wire contract may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

CodeT = TypeVar("CodeT", bound=StrEnum)
EntryT = TypeVar("EntryT", bound="ErrorText")


@dataclass(frozen=True, slots=True)
class ErrorText:
    """What a code says: to the person at the screen (Japanese), and to IT (English)."""

    front_desk: str
    it: str


@dataclass(frozen=True, slots=True, init=False)
class ErrorInfo(ErrorText):
    """A code answered over HTTP: its status, then its texts."""

    http_status: int

    # The status comes first, as a catalogue reads best (a dataclass would put it last).
    def __init__(self, http_status: int, front_desk: str, it: str) -> None:
        ErrorText.__init__(self, front_desk, it)
        object.__setattr__(self, "http_status", http_status)


def catalogue(codes: type[CodeT], entries: Mapping[CodeT, EntryT]) -> Mapping[CodeT, EntryT]:
    """`entries` as a read-only catalogue of `codes`, checked complete: raises `TypeError` (at
    import, where catalogues are built) for a member without an entry, an entry of another
    enum, or two members sharing a code (an enum makes the second an alias of the first)."""
    aliases = sorted(name for name, member in codes.__members__.items() if member.name != name)
    if aliases:
        raise TypeError(f"{codes.__name__}: {', '.join(aliases)} repeat(s) another member's code")
    missing = [member.value for member in codes if member not in entries]
    if missing:
        raise TypeError(f"{codes.__name__}: no catalogue entry for {', '.join(missing)}")
    foreign = [repr(key) for key in entries if not isinstance(key, codes)]
    if foreign:
        raise TypeError(f"{codes.__name__}'s catalogue has entries for {', '.join(foreign)}")
    return MappingProxyType(dict(entries))


class CodedError(Exception, Generic[CodeT]):
    """A refusal with a stable code. A package's base names its catalogue
    (`class QualificationError(CodedError[Code]): catalogue = CATALOGUE`).

    `detail` adds facts for IT and is never personal data: it names a field, an id or a
    limit, never a value the request sent. `retry_after_s` says when trying again can
    succeed (HTTP `Retry-After`).
    """

    catalogue: Mapping[CodeT, ErrorInfo]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "catalogue", None), Mapping):
            raise TypeError(f"{cls.__name__} names no catalogue (catalogue = …)")

    def __init__(
        self, code: CodeT, detail: str | None = None, *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(f"{code}: {detail or self.catalogue[code].it}")
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s

    @property
    def info(self) -> ErrorInfo:
        """The code's catalogue entry."""
        return self.catalogue[self.code]


class ErrorBody(BaseModel):
    """An error answer's body. A package whose errors carry data (a conflicting record's id,
    the problems of a request) subclasses it with those fields, each optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="stable numbered code of the server's catalogue")
    message: str = Field(description="for the person at the screen (Japanese)")
    message_it: str = Field(description="for IT (English)")
    detail: str | None = Field(
        default=None, description="the specifics, for IT; never a value the request sent"
    )
    request_id: str = Field(
        description="the request's X-Request-ID, or the id the server gave it; its log line "
        "names the same"
    )


class ErrorResponse(BaseModel):
    """Every error answer: `{"error": {…}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error: ErrorBody
