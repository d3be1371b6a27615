"""The portal's view in words: Japan time, 和暦 with 西暦, who looked, how, what was answered;
which insurer linked the person's My Number and how the issuer's match of the four items came
out (issue 17), by item, never by value.

Made here, not in the page, so that every screen says the same and a test can read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from onshi_kernel.japan_time import JST, era_of
from qualification_server.contract.schemas import (
    AccessEntry,
    AccessHistory,
    LinkageItem,
    PortalLinkage,
)

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

# The four items in the order a 住民票 lists them, under the registry's element names.
ITEMS: dict[LinkageItem, str] = {
    "Name": "氏名",
    "Birthdate": "生年月日",
    "Sex1": "性別",
    "Address": "住所",
}
LINKAGE_EVENTS = {
    "linked": "登録されました。",
    "rematched": "登録内容が訂正されました。",
    "confirmed": "保険者の担当者1名が確認しました（2名の確認で保留が解除されます）。",
    "released": "保険者の担当者2名が確認し保留を解除しました。",
    "unlinked": "別の方の番号として訂正され、あなたとの紐付けが解除されました。",
}
MATCHED = "登録内容が住民票の情報と一致しました。"
HELD = "一致しなかったため保留中です（保険者が確認中）。"
HELD_BEFORE = "一致しなかったため保留されました（その後の記録をご覧ください）。"
UNKNOWN_HELD = "住民票の情報と照合できなかったため保留中です（保険者が確認中）。"
UNKNOWN_HELD_BEFORE = (
    "住民票の情報と照合できなかったため保留されました（その後の記録をご覧ください）。"
)
PENDING = "住民票の情報との照合はまだ行われていません（保険者が確認中）。"
UNCHECKED = "照合できませんでした（住民票の情報にありません）"
MY_NUMBER_UNKNOWN = "マイナンバー下4桁 記録なし"


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
                "proof": proof_of(entry),
            }
        )
    return rows


def proof_of(entry: AccessEntry) -> dict[str, Any] | None:
    """What the page checks the record by: its bytes as the log hashed them (base64), its
    leaf index and its audit path (None while the record is newer than the checkpoint); None
    while the record is not sealed."""
    if entry.leaf is None or entry.leaf_index is None:
        return None
    return {"leaf": entry.leaf, "index": entry.leaf_index, "proof": entry.inclusion_proof}


def missing_keys_words(*, log_key: bool, witness_keys: bool) -> str | None:
    """Which of the portal app's settings the record check lacks, in words; None when both
    are set."""
    missing = [
        name
        for name, present in (
            ("ONSHI_CLINIC_LOG_KEY", log_key),
            ("ONSHI_CLINIC_LOG_WITNESS_KEYS", witness_keys),
        )
        if not present
    ]
    if not missing:
        return None
    return (
        f"記録の確認に使う鍵が設定されていません（{'・'.join(missing)}）。"
        "このパソコンのポータルアプリの設定に、公表されている鍵を設定してください。"
    )


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


def my_number_words(last4: str | None) -> str:
    """`マイナンバー下4桁 ****1234`: never more of the number than its last 4 digits."""
    return f"マイナンバー下4桁 ****{last4}" if last4 else MY_NUMBER_UNKNOWN


def differing_words(linkage: PortalLinkage) -> str | None:
    """The items the issuer's match found different (氏名・住所), None when none did; which
    ones only, never a value."""
    if linkage.Event not in ("linked", "rematched"):
        return None  # only a match says how the items came out; the others repeat it
    if not linkage.PersonKnownToIssuer:
        return UNCHECKED
    differing = [ITEMS[item] for item in ITEMS if linkage.Outcomes.get(item) == "mismatch"]
    return "・".join(differing) or None


def linkage_what(linkage: PortalLinkage, *, still_held: bool) -> str:
    """What happened, in plain words: the event, then how the match left the linkage.
    `still_held`: no later event of the insurer changed it (a hold said in the present)."""
    said = LINKAGE_EVENTS.get(linkage.Event, "")
    if linkage.Event not in ("linked", "rematched"):
        return said
    if linkage.State == "matched":
        return said + MATCHED
    if linkage.State == "pending":
        return said + PENDING
    if linkage.State == "held":
        if linkage.PersonKnownToIssuer:
            return said + (HELD if still_held else HELD_BEFORE)
        return said + (UNKNOWN_HELD if still_held else UNKNOWN_HELD_BEFORE)
    return said


def held_advice(insurer_name: str) -> str:
    """What the person can do while a linkage is held."""
    return (
        f"心当たりがない場合や内容を確かめたい場合は、{insurer_name}にお問い合わせください。"
        "保留中は、この保険の資格をマイナンバーカードで確認できません。確認が済むまでは、"
        f"{insurer_name}が交付する資格確認書で医療機関・薬局を受診できます。"
    )


def linkage_rows(history: AccessHistory) -> list[dict[str, Any]]:
    """Each linkage event, newest first, in words; a hold that still stands says what the
    person can do."""
    latest: dict[str, PortalLinkage] = {}
    for linkage in history.Linkages:  # oldest first: the last one per insurer stands
        latest[linkage.InsurerNumber] = linkage
    rows = []
    for linkage in reversed(history.Linkages):
        # An unlinked event's state is the number's with its new holder: not this person's.
        still_held = (
            latest[linkage.InsurerNumber] is linkage
            and linkage.Event != "unlinked"
            and linkage.State in ("held", "pending")
        )
        rows.append(
            {
                "when": japan_time_text(linkage.At),
                "when_iso": linkage.At.astimezone(JST).isoformat(timespec="seconds"),
                "insurer": f"{linkage.InsurerName}（保険者番号 {linkage.InsurerNumber}）",
                "what": linkage_what(linkage, still_held=still_held),
                "differing": differing_words(linkage),
                "my_number": my_number_words(linkage.MyNumberLast4)
                if linkage.Event != "unlinked"
                else None,
                "held": still_held,
                "advice": held_advice(linkage.InsurerName) if still_held else None,
            }
        )
    return rows
