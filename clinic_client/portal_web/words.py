"""The portal's view in words: Japan time, 和暦 with 西暦, who looked, how, what was answered.

Made here, not in the page, so that every screen says the same and a test can read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from onshi_kernel.japan_time import JST, era_of
from qualification_server.contract.schemas import AccessEntry, AccessHistory

HOW = {
    "pin": "マイナンバーカード（暗証番号）",
    "face": "マイナンバーカード（顔認証）",
    "visual": "マイナンバーカード（目視確認）",
    "insured-number": "保険証の記号・番号（保険証番号）",
    "reference-number": "照会番号の登録（保険証番号）",
    "registration": "利用登録",
    "unregistration": "利用登録の解除",
    "portal": "マイナポータルで閲覧",
}
VALIDITY = {
    "1": "資格あり（有効）",
    "2": "資格なし（無効）",
    "3": "資格なし（無効・新しい資格あり）",
    "4": "該当する資格なし",
    "5": "資格あり（複数該当）",
}
REFUSALS = {
    "Q1003": "電子証明書の有効期限切れ",
    "Q1005": "電子証明書が失効",
    "Q2005": "本人確認に失敗",
    "Q2008": "顔認証がロック中",
    "Q2009": "顔認証が一致せず",
    "Q3001": "利用登録されていない",
    "Q3003": "資格情報なし",
    "Q4001": "記号・番号と生年月日が一致せず",
}
DONE = {
    "registration": "利用登録しました",
    "unregistration": "利用登録を解除しました",
    "portal": "閲覧しました",
}


def wareki(day: dt.date) -> str:
    """`令和8年4月1日` (元年 for the first year)."""
    era, year = era_of(day)
    return f"{era.name}{'元' if year == 1 else year}年{day.month}月{day.day}日"


def seireki(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def japan_date_text(moment: dt.datetime) -> str:
    """`令和8年12月2日（2026年12月2日）` — the day in Japan."""
    day = moment.astimezone(JST).date()
    return f"{wareki(day)}（{seireki(day)}）"


def japan_time_text(moment: dt.datetime) -> str:
    """`令和8年12月2日（2026年12月2日） 21時58分` in Japan time."""
    local = moment.astimezone(JST)
    return f"{japan_date_text(local)} {local.hour}時{local.minute:02d}分"


def who(entry: AccessEntry) -> str:
    if entry.clinic_code is None:
        return "ご本人（マイナポータル）"
    name = entry.clinic_name or "医療機関"
    return f"{name}（医療機関コード {entry.clinic_code}）"


def what(entry: AccessEntry) -> str:
    if entry.result == "refused" or (entry.result is None and entry.error_code):
        code = entry.error_code or entry.outcome
        reason = REFUSALS.get(code)
        return f"照会拒否（{reason}、{code}）" if reason else f"照会拒否（{code}）"
    if entry.validity is not None:
        return VALIDITY.get(entry.validity, f"QualificationValidity {entry.validity}")
    return DONE.get(entry.method, "完了")


def history_rows(history: AccessHistory) -> list[dict[str, Any]]:
    """Each record, newest first, in words."""
    rows = []
    for entry in history.entries:
        how = HOW.get(entry.method, entry.method)
        if entry.credential == "smartphone" and entry.method in ("pin", "face", "visual"):
            how = how.replace("マイナンバーカード", "スマートフォン")
        rows.append(
            {
                "when": japan_time_text(entry.recorded_at),
                "when_iso": entry.recorded_at.astimezone(JST).isoformat(timespec="seconds"),
                "who": who(entry),
                "how": how,
                "what": what(entry),
                "refused": entry.result == "refused",
            }
        )
    return rows


def registration_view(history: AccessHistory) -> dict[str, Any] | None:
    registration = history.registration
    if registration is None:
        return None
    if registration.registered_via == "clinic":
        place = registration.clinic_name or "医療機関"
        via = f"{place}（医療機関コード {registration.clinic_code}）のカードリーダーで登録"
    else:
        via = "マイナポータルで登録"
    return {
        "since": japan_date_text(registration.registered_at),
        "via": via,
        "insurers": [
            {"name": i.insurer_name, "number": i.insurer_number} for i in registration.insurers
        ],
    }
