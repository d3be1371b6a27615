"""Japan time and the wire's date forms, as vectors."""

from __future__ import annotations

import datetime as dt

import pytest

from onshi_kernel.japan_time import japan_date, parse_yyyymmdd, timestamp, yyyymmdd


@pytest.mark.parametrize(
    ("day", "wire"),
    [
        (dt.date(2026, 12, 1), "20261201"),
        (dt.date(4, 2, 29), "00040229"),  # strftime would write 40229 on Linux
        (dt.date(999, 1, 1), "09990101"),
    ],
)
def test_a_date_is_written_as_eight_digits(day: dt.date, wire: str) -> None:
    assert yyyymmdd(day) == wire


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (dt.datetime(2026, 12, 1, 14, 59, 59, tzinfo=dt.UTC), dt.date(2026, 12, 1)),
        (dt.datetime(2026, 12, 1, 15, 0, 0, tzinfo=dt.UTC), dt.date(2026, 12, 2)),
    ],
)
def test_the_day_in_japan_turns_at_15_utc(utc: dt.datetime, day: dt.date) -> None:
    assert japan_date(utc) == day


def test_a_timestamp_is_japan_time() -> None:
    moment = dt.datetime(2026, 12, 1, 15, 4, 5, tzinfo=dt.UTC)
    assert timestamp(moment) == "20261202000405"


@pytest.mark.parametrize(
    ("wire", "day"),
    [("20261201", dt.date(2026, 12, 1)), ("00040229", dt.date(4, 2, 29))],
)
def test_a_wire_date_is_read(wire: str, day: dt.date) -> None:
    assert parse_yyyymmdd(wire) == day


@pytest.mark.parametrize(
    "wire", ["2026121", "202612011", "2026-12-1", "２０２６１２０１", "20230229"]
)
def test_what_is_not_a_wire_date_is_refused_without_quoting_it(wire: str) -> None:
    with pytest.raises(ValueError, match="date") as refused:
        parse_yyyymmdd(wire)
    assert wire not in str(refused.value)
