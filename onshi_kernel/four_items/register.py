"""The resident register (住基, J-LIS's role) and the four-item match against it."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from onshi_kernel.four_items.normalise import (
    AddressKey,
    address_key,
    address_keys_match,
    kana_key,
    name_key,
)

log = logging.getLogger(__name__)

REGISTER_FORMAT = "onshi-resident-register/1"


class Item(StrEnum):
    """The four items, named as the element of the answer that reports each."""

    NAME = "Name"
    BIRTHDATE = "Birthdate"
    SEX = "Sex1"
    ADDRESS = "Address"


class Outcome(StrEnum):
    """How one stated item compares with the register's."""

    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_GIVEN = "not_given"


@dataclass(frozen=True, slots=True)
class FourItems:
    """A person's four items (and the reading of the name), as an insurer states them or as
    the issuer issued them. The repr hides every value."""

    name: str = field(repr=False)
    birthdate: date = field(repr=False)
    sex: str = field(repr=False)
    address: str | None = field(default=None, repr=False)
    name_kana: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class FourItemMatch:
    """The answer to one claim: whether the person is known, and each item's outcome. It holds
    no value, the register's or the claim's."""

    person_known: bool
    outcomes: tuple[tuple[Item, Outcome], ...]

    @property
    def matched(self) -> bool:
        """Known, no item differs, and name, birth date and sex were each compared and equal."""
        if not self.person_known:
            return False
        found = dict(self.outcomes)
        if any(outcome is Outcome.MISMATCH for outcome in found.values()):
            return False
        return all(found.get(item) is Outcome.MATCH for item in _DECIDING)

    @property
    def differing(self) -> tuple[Item, ...]:
        """The items that differ; all four when the register does not know the person."""
        if not self.person_known:
            return tuple(Item)
        return tuple(item for item, outcome in self.outcomes if outcome is Outcome.MISMATCH)

    def outcome(self, item: Item) -> Outcome:
        """One item's outcome; MISMATCH for every item of an unknown person."""
        if not self.person_known:
            return Outcome.MISMATCH
        return dict(self.outcomes)[item]


_DECIDING: Final = (Item.NAME, Item.BIRTHDATE, Item.SEX)
UNKNOWN_PERSON: Final = FourItemMatch(person_known=False, outcomes=())


class ResidentRegister(Protocol):
    """Who the issuer knows, by person reference, to match an insurer's four items against."""

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        """Compare `claimed` with what the register holds for `person_ref`."""
        ...

    def match_many(self, claims: Sequence[tuple[str, FourItems]]) -> list[FourItemMatch]:
        """`match` of every (person reference, claim), in order."""
        ...


class ResidentRegisterError(RuntimeError):
    """A register file cannot be read, or is not a register. The message holds no value."""


@dataclass(frozen=True, slots=True)
class _Keys:
    """An entry's comparison keys, computed once when the register is loaded."""

    name: str
    kana: str | None
    birthdate: date
    sex: str
    address: AddressKey | None


def _keys_of(items: FourItems) -> _Keys:
    return _Keys(
        name=name_key(items.name),
        kana=None if items.name_kana is None else kana_key(items.name_kana),
        birthdate=items.birthdate,
        sex=items.sex,
        address=None if items.address is None else address_key(items.address),
    )


def _same(equal: bool) -> Outcome:
    return Outcome.MATCH if equal else Outcome.MISMATCH


def _compare(stored: _Keys, claimed: FourItems) -> FourItemMatch:
    name_equal = stored.name == name_key(claimed.name)
    if name_equal and claimed.name_kana is not None and stored.kana is not None:
        name_equal = stored.kana == kana_key(claimed.name_kana)
    if claimed.address is None or stored.address is None:
        # The insurer gave none (name, birth date and sex decide), or the register has none.
        address = Outcome.NOT_GIVEN
    else:
        address = _same(address_keys_match(stored.address, address_key(claimed.address)))
    return FourItemMatch(
        person_known=True,
        outcomes=(
            (Item.NAME, _same(name_equal)),
            (Item.BIRTHDATE, _same(stored.birthdate == claimed.birthdate)),
            (Item.SEX, _same(stored.sex == claimed.sex)),
            (Item.ADDRESS, address),
        ),
    )


class InMemoryResidentRegister:
    """`ResidentRegister` over entries held in memory: person reference → items as issued."""

    def __init__(self, entries: Mapping[str, FourItems]) -> None:
        """Compute every entry's keys now, so a match normalises only the claim."""
        self._keys = {ref: _keys_of(items) for ref, items in entries.items()}

    def __len__(self) -> int:
        """How many people the register knows."""
        return len(self._keys)

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        """Compare `claimed` with the entry of `person_ref`, if any."""
        stored = self._keys.get(person_ref)
        return UNKNOWN_PERSON if stored is None else _compare(stored, claimed)

    def match_many(self, claims: Sequence[tuple[str, FourItems]]) -> list[FourItemMatch]:
        """`match` of every claim, in order."""
        keys = self._keys
        out: list[FourItemMatch] = []
        for person_ref, claimed in claims:
            stored = keys.get(person_ref)
            out.append(UNKNOWN_PERSON if stored is None else _compare(stored, claimed))
        return out


# --- the file -----------------------------------------------------------------------------


def register_document(entries: Mapping[str, FourItems]) -> dict[str, object]:
    """The JSON document of a register file holding `entries`, sorted by person reference."""
    return {
        "format": REGISTER_FORMAT,
        "residents": [
            {
                "person_ref": ref,
                "name": items.name,
                "name_kana": items.name_kana,
                "birthdate": items.birthdate.isoformat(),
                "sex": items.sex,
                "address": items.address,
            }
            for ref, items in sorted(entries.items())
        ],
    }


def parse_register(text: str) -> dict[str, FourItems]:
    """person reference → items, from a register file's text. Raises ResidentRegisterError
    for anything that is not a register (the message never quotes a value)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ResidentRegisterError(f"not JSON (line {getattr(exc, 'lineno', '?')})") from None
    if not isinstance(doc, dict) or doc.get("format") != REGISTER_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ResidentRegisterError(
            f"not a resident register (format {found!r}, expected {REGISTER_FORMAT!r})"
        )
    residents = doc.get("residents")
    if not isinstance(residents, list):
        raise ResidentRegisterError("a resident register needs a 'residents' list")
    entries: dict[str, FourItems] = {}
    for index, raw in enumerate(residents):
        try:
            ref, items = _entry_of(raw)
        except (KeyError, TypeError, ValueError) as exc:
            # The exception's text may hold a value; only its kind and the index are said.
            raise ResidentRegisterError(
                f"resident {index} is malformed ({type(exc).__name__})"
            ) from None
        if ref in entries:
            raise ResidentRegisterError(f"resident {index} repeats a person reference")
        entries[ref] = items
    return entries


def _entry_of(raw: Any) -> tuple[str, FourItems]:
    if not isinstance(raw, dict):
        raise TypeError("an entry is an object")
    text = _text_field
    items = FourItems(
        name=text(raw, "name"),
        birthdate=date.fromisoformat(text(raw, "birthdate")),
        sex=text(raw, "sex"),
        address=text(raw, "address", optional=True),
        name_kana=text(raw, "name_kana", optional=True),
    )
    return text(raw, "person_ref"), items


def _text_field(raw: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = raw[name] if not optional else raw.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} is a non-empty string")
    return value


_Stamp = tuple[tuple[str, int, int, int] | None, ...]


def _stamp_of(paths: Sequence[Path]) -> _Stamp:
    """Each file's (name, inode, size, mtime), None when absent: any change is seen."""
    stamps: list[tuple[str, int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


class FileResidentRegister:
    """`ResidentRegister` over one or more register files (the issuer's `register.json`),
    reloaded when one changes, checked at most every `check_interval_s` seconds.

    A missing file adds nobody (an empty register: every person unknown). A file that is not
    a register raises ResidentRegisterError when the register is built; at a later reload it
    is logged and the previous register kept, so a half-deployed file stops nothing.
    """

    def __init__(self, paths: list[Path], check_interval_s: float = 1.0) -> None:
        """Load `paths` now; later entries win over earlier ones for the same person."""
        self._paths = list(paths)
        self._interval = check_interval_s
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._register = InMemoryResidentRegister({})
        self._refresh(initial=True)
        self._checked_at = time.monotonic()

    def _refresh(self, *, initial: bool = False) -> None:
        stamp = _stamp_of(self._paths)
        if stamp == self._stamp:
            return
        entries: dict[str, FourItems] = {}
        for path in self._paths:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                if self._refused(initial, path, f"cannot be read ({type(exc).__name__})"):
                    return
                continue
            try:
                entries.update(parse_register(text))
            except ResidentRegisterError as exc:
                if self._refused(initial, path, str(exc)):
                    return
        self._register, self._stamp = InMemoryResidentRegister(entries), stamp

    @staticmethod
    def _refused(initial: bool, path: Path, reason: str) -> bool:
        if initial:
            raise ResidentRegisterError(f"{path}: {reason}")
        log.error("keeping the previous resident register: %s: %s", path, reason)
        return True

    def _current(self) -> InMemoryResidentRegister:
        now = time.monotonic()
        if now - self._checked_at >= self._interval:
            with self._lock:
                self._checked_at = now
                self._refresh()
        return self._register

    def __len__(self) -> int:
        """How many people the register knows now."""
        return len(self._current())

    def match(self, person_ref: str, claimed: FourItems) -> FourItemMatch:
        """Compare `claimed` with the current register's entry of `person_ref`."""
        return self._current().match(person_ref, claimed)

    def match_many(self, claims: Sequence[tuple[str, FourItems]]) -> list[FourItemMatch]:
        """`match` of every claim against one register (no reload in the middle)."""
        return self._current().match_many(claims)
