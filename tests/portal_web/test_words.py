"""The portal's dates and times: 和暦 with 西暦, in Japan time whatever the host's zone."""

from __future__ import annotations

import datetime as dt

from clinic_client.portal_web.words import japan_time_text, wareki


def test_era_boundaries_and_the_first_year() -> None:
    assert wareki(dt.date(2019, 4, 30)) == "平成31年4月30日"
    assert wareki(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(dt.date(2026, 12, 2)) == "令和8年12月2日"


def test_a_time_is_told_in_japan_time() -> None:
    late_utc = dt.datetime(2026, 12, 31, 15, 5, tzinfo=dt.UTC)  # already 2027 in Japan
    assert japan_time_text(late_utc) == "令和9年1月1日（2027年1月1日） 0時05分"
