"""No My Number, PIN, name or birth date in any log line of the whole test run.

`tests/conftest.py` collects every log record of the run in `var/test-logs/` (this process
at DEBUG for onshi's packages, and every onshi command the tests start); this module runs
last and reads them for the personal data of every fixture: the residents on the test cards
and the members of the sample registry files.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from insurer_registry.members.names import name_kana, person_name

from .conftest import LOG_DIR, OWN_PACKAGES

REPO = Path(__file__).resolve().parents[1]
PIN = "1234"


@dataclass(frozen=True)
class Secret:
    kind: str
    pattern: re.Pattern[str]


def _literal(kind: str, value: str) -> Secret:
    return Secret(kind, re.compile(re.escape(value)))


def _date_forms(day: dt.date) -> list[str]:
    return [f"{day:%Y%m%d}", f"{day:%Y-%m-%d}", f"{day:%Y/%m/%d}"]


def _name_forms(name: str) -> list[str]:
    """The name as written, and as the registry stores and answers it (a reading in
    half-width katakana, a name joined by one full-width space), each with its parts joined
    every way."""
    forms = [name]
    for store in (person_name, name_kana):
        with contextlib.suppress(ValueError):  # not a reading (or a name): no such form
            forms.append(store(name))
    found: list[str] = []
    for form in forms:
        parts = re.split(r"[ \u3000]+", form.strip())
        found += [form, "".join(parts), " ".join(parts), "\u3000".join(parts)]
    return list(dict.fromkeys(found))


def personal_data() -> list[Secret]:
    """Every form of the fixtures' personal data that a log line must never hold."""
    found: list[Secret] = []
    residents = json.loads((REPO / "fixtures" / "residents.json").read_text())
    members = list(csv.DictReader((REPO / "fixtures" / "registry" / "members.csv").open()))
    numbers = [r["my_number"] for r in residents] + [m["MyNumber"] for m in members]
    names = [r[k] for r in residents for k in ("name", "name_kana")] + [
        m[k] for m in members for k in ("Name", "NameKana")
    ]
    births = [dt.date.fromisoformat(r["birth_date"]) for r in residents] + [
        dt.datetime.strptime(m["Birthdate"], "%Y%m%d").date() for m in members
    ]
    for number in filter(None, numbers):
        found.append(_literal("My Number", number))
        found.append(_literal("My Number (as APDU hex)", number.encode().hex().upper()))
    for name in filter(None, names):
        found += [_literal("name", form) for form in _name_forms(name) if len(form) >= 2]
    for day in births:
        found += [_literal("birth date", form) for form in _date_forms(day)]
    found.append(Secret("PIN", re.compile(rf"(?i)\bpin\b\W{{0,4}}{PIN}\b")))
    found.append(
        Secret(
            "PIN (in a VERIFY APDU)",
            re.compile(r"(?i)00\s?20\s?00\s?8[01]\s?04\s?31\s?32\s?33\s?34"),
        )
    )
    return found


def leaks(lines: list[str], secrets: list[Secret]) -> list[str]:
    """`file:line: kind` for every line holding a secret (the secret itself not repeated)."""
    found: dict[str, None] = {}
    for line in lines:
        where, text = line.split("\t", 1)
        for secret in secrets:
            if secret.pattern.search(text):
                found[f"{where}: {secret.kind}"] = None
    return list(found)


def _log_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(LOG_DIR.glob("*.log")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines.append(f"{path.name}:{number}\t{line}")
    return lines


def test_the_scan_finds_what_it_looks_for() -> None:
    secrets = personal_data()
    planted = [
        "x.log:1\tlookup for 711066580354 failed",
        "x.log:2\tname=山田太郎",
        "x.log:3\tbirth 1980-04-01",
        "x.log:4\tPIN: 1234",
        "x.log:5\t> 00 20 00 80 04 31 32 33 34",
        "x.log:6\tlookup person 3f2a…: 1 qualification(s)",
    ]
    assert [hit.split(": ", 1)[1] for hit in leaks(planted, secrets)] == [
        "My Number", "name", "birth date", "PIN", "PIN (in a VERIFY APDU)",
    ]  # fmt: skip


def test_no_log_line_of_the_run_holds_personal_data() -> None:
    lines = _log_lines()
    # the collection worked: the run's own packages did log (a scan of nothing proves nothing)
    logged = {name for name in OWN_PACKAGES if any(f" {name}." in line for line in lines)}
    assert {"qualification_server", "insurer_registry"} <= logged, (
        f"too little was logged to check ({len(lines)} lines, from {sorted(logged)})"
    )
    found = leaks(lines, personal_data())
    assert not found, "personal data in the logs:\n" + "\n".join(found[:50])
