"""Japan time and the wire's date forms. The eligibility system speaks Japan Standard Time
(UTC+9, no daylight saving): a confirmation date is the day in Japan, whatever the host's
own time zone says."""

from __future__ import annotations

import datetime as dt

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def japan_now() -> dt.datetime:
    """Now, in Japan time."""
    return dt.datetime.now(JST)


def japan_date(moment: dt.datetime) -> dt.date:
    """The day in Japan at `moment` (an aware date-time)."""
    return moment.astimezone(JST).date()


def japan_today() -> dt.date:
    """Today in Japan."""
    return japan_now().date()


def yyyymmdd(day: dt.date) -> str:
    """A date as the wire writes it: `YYYYMMDD`, the year in four digits even before 1000
    (`strftime` does not pad it on Linux)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def timestamp(moment: dt.datetime) -> str:
    """`YYYYMMDDHHmmss` in Japan time, as the wire's times are written."""
    return moment.astimezone(JST).strftime("%Y%m%d%H%M%S")


def parse_yyyymmdd(text: str) -> dt.date:
    """A `YYYYMMDD` date; `ValueError` naming the rule (never the value) for anything else."""
    if not (len(text) == 8 and text.isascii() and text.isdigit()):
        raise ValueError("expected a date as YYYYMMDD")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError("not a calendar date") from None
