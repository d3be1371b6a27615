"""Japan time and the wire's date forms. The eligibility system speaks Japan Standard Time
(UTC+9, no daylight saving): a confirmation date is the day in Japan, whatever the host's
own time zone says."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Era:
    """A Japanese era (元号): its name, the day it began, and the digit JPKI and the
    insurance interface use for it (1 明治 … 5 令和)."""

    name: str
    began: dt.date
    digit: int


# The modern eras by their first day (明治 from its Gregorian adoption, 1873-01-01).
ERAS = (
    Era("明治", dt.date(1873, 1, 1), 1),
    Era("大正", dt.date(1912, 7, 30), 2),
    Era("昭和", dt.date(1926, 12, 25), 3),
    Era("平成", dt.date(1989, 1, 8), 4),
    Era("令和", dt.date(2019, 5, 1), 5),
)


def era_of(day: dt.date) -> tuple[Era, int]:
    """The era of `day` and the year within it (元年 is 1). Raises ValueError before 明治 6."""
    for era in reversed(ERAS):
        if day >= era.began:
            return era, day.year - era.began.year + 1
    raise ValueError(f"{day.isoformat()} is before the Gregorian calendar came to Japan")
