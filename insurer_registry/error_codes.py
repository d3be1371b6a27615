"""The registry's numbered errors (`R…`), in the kernel's pattern (`onshi_kernel.errors`):
each code with its HTTP status, a Japanese text for the insurer's operator and an English one
for IT. Grouped by hundreds: the request (R1…), what it names and is not there (R2…), what
it contradicts (R3…), the credential (R4…), the registry itself (R9…). Codes never change
meaning; new ones are added at the end of their hundred."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from onshi_kernel.errors import ErrorInfo, catalogue


class RegistryCode(StrEnum):
    INVALID_REQUEST = "R1001"
    INVALID_RECORD = "R1002"
    IDEMPOTENCY_KEY_REQUIRED = "R1003"
    REQUEST_TOO_LARGE = "R1004"
    UPLOAD_TOO_LARGE = "R1005"
    INVALID_FILE = "R1006"
    IMPORT_REJECTED = "R1007"
    QUALIFICATION_NOT_FOUND = "R2001"
    INSURER_NOT_FOUND = "R2002"
    INSURER_EXISTS = "R3001"
    QUALIFICATION_EXISTS = "R3002"
    INSURED_NUMBER_TAKEN = "R3003"
    OVERLAPPING_QUALIFICATION = "R3004"
    ALREADY_LOST = "R3005"
    VERSION_CONFLICT = "R3006"
    IDEMPOTENCY_KEY_REUSED = "R3007"
    LINKAGE_NOT_HELD = "R3008"
    LINKAGE_ALREADY_CONFIRMED_BY = "R3009"
    LINKAGE_CONFIRMATION_BY_OPERATOR = "R3010"
    INVALID_CREDENTIAL = "R4001"
    INTERNAL = "R9001"
    UNAVAILABLE = "R9002"
    REGISTER_UNAVAILABLE = "R9003"


CATALOGUE: Mapping[RegistryCode, ErrorInfo] = catalogue(RegistryCode, {
    RegistryCode.INVALID_REQUEST: ErrorInfo(
        422, "リクエストの形式に誤りがあります。項目と理由を確認してください。",
        "The request does not match the API schema or a rule of the field; problems lists "
        "each field and reason, never the value.",
    ),
    RegistryCode.INVALID_RECORD: ErrorInfo(
        422, "登録内容が登録の規則に合っていません。項目と理由を確認してください。",
        "The record breaks a registry rule (check digits, dates in order, code lists, "
        "characters); problems lists every one, never the value.",
    ),
    RegistryCode.IDEMPOTENCY_KEY_REQUIRED: ErrorInfo(
        400, "リクエストIDがないか、形式に誤りがあります。",
        "A write needs an Idempotency-Key header: 1–200 printable ASCII characters of the "
        "client's choosing.",
    ),
    RegistryCode.REQUEST_TOO_LARGE: ErrorInfo(
        413, "送信データが大きすぎます。",
        "The request body is larger than the registry accepts; it was refused before being "
        "read to the end.",
    ),
    RegistryCode.UPLOAD_TOO_LARGE: ErrorInfo(
        413, "CSVファイルが大きすぎます。分けて送信するか、運用者に取り込みを依頼してください。",
        "The CSV upload is larger than the API accepts: send it in parts, or have the "
        "operator import it (insurer-registry import). Nothing was imported.",
    ),
    RegistryCode.INVALID_FILE: ErrorInfo(
        422, "CSVファイルを読み取れません。文字コード・見出し行・形式を確認してください。",
        "The CSV file as a whole cannot be read (encoding, header row, CSV syntax); line "
        "says where it broke. Nothing was imported.",
    ),
    RegistryCode.IMPORT_REJECTED: ErrorInfo(
        422, "取り込めない行があったため、何も登録していません。",
        "Rows were rejected and the import is all or nothing: nothing was imported; report "
        "lists the rejected rows by line (partial=true keeps the good ones).",
    ),
    RegistryCode.QUALIFICATION_NOT_FOUND: ErrorInfo(
        404, "指定された資格は登録されていません。",
        "No qualification with this id belongs to the calling insurer.",
    ),
    RegistryCode.INSURER_NOT_FOUND: ErrorInfo(
        404, "この保険者は登録されていません。",
        "No insurer with this number is registered.",
    ),
    RegistryCode.INSURER_EXISTS: ErrorInfo(
        409, "この保険者は既に登録されています。",
        "An insurer with this number is already registered.",
    ),
    RegistryCode.QUALIFICATION_EXISTS: ErrorInfo(
        409, "この資格は既に登録されています。",
        "The same qualification (insured number and qualification date) is registered; "
        "existing_qualification_id names it.",
    ),
    RegistryCode.INSURED_NUMBER_TAKEN: ErrorInfo(
        409, "この記号・番号・枝番は別の方の資格として登録されています。",
        "The insured number (記号・番号・枝番) belongs to another person at this insurer; "
        "existing_qualification_id names that qualification.",
    ),
    RegistryCode.OVERLAPPING_QUALIFICATION: ErrorInfo(
        409, "この方には期間の重なる資格が既に登録されています。",
        "The person already holds a qualification at this insurer for part of the period; "
        "existing_qualification_id names it.",
    ),
    RegistryCode.ALREADY_LOST: ErrorInfo(
        409, "この資格の喪失は既に登録されています。変更する場合は訂正してください。",
        "A loss is recorded already: correct it (PATCH) instead of recording another.",
    ),
    RegistryCode.VERSION_CONFLICT: ErrorInfo(
        409, "他の更新と重なりました。最新の内容を読み直してからやり直してください。",
        "The record changed since the caller read it; expected_version and current_version "
        "say how. Read it again, then send the correction with the current Version.",
    ),
    RegistryCode.IDEMPOTENCY_KEY_REUSED: ErrorInfo(
        409, "このリクエストIDは別の内容のリクエストで使われています。",
        "The Idempotency-Key was used before for a different request: a new request needs "
        "a new key.",
    ),
    RegistryCode.LINKAGE_NOT_HELD: ErrorInfo(
        409, "この資格は保留されていません。確認は保留中の紐付けにだけ行えます。",
        "The qualification's linkage is not held (it matched the issuer's four items, or was "
        "confirmed already): only a held linkage can be confirmed.",
    ),
    RegistryCode.LINKAGE_ALREADY_CONFIRMED_BY: ErrorInfo(
        409, "この紐付けはこの利用者が確認済みです。別の利用者の確認が必要です。",
        "This credential confirmed the held linkage already: the release needs a second, "
        "distinct user of the insurer.",
    ),
    RegistryCode.LINKAGE_CONFIRMATION_BY_OPERATOR: ErrorInfo(
        403, "紐付けの確認は保険者の利用者が行います。",
        "A held linkage is confirmed by the insurer's users, each with their own credential; "
        "the registry's operator cannot confirm one.",
    ),
    RegistryCode.INVALID_CREDENTIAL: ErrorInfo(
        401, "認証に失敗しました。資格情報を確認してください。",
        "Missing, malformed, unknown or revoked credential, or one of the wrong kind "
        "(Authorization: Bearer ins_… for /v1, net_… for /network/v1).",
    ),
    RegistryCode.INTERNAL: ErrorInfo(
        500, "システムエラーが発生しました。しばらくしてからもう一度お試しください。",
        "Unexpected registry error; the request id locates it in the registry's log.",
    ),
    RegistryCode.UNAVAILABLE: ErrorInfo(
        503, "現在ご利用いただけません。しばらくしてからもう一度お試しください。",
        "The registry's database does not answer (also what /readyz says); retry after "
        "Retry-After seconds.",
    ),
    RegistryCode.REGISTER_UNAVAILABLE: ErrorInfo(
        503, "現在ご利用いただけません。住民情報との照合ができないため、登録は保留されます。",
        "The card issuer's resident register (ONSHI_RESIDENT_REGISTER_FILES) is missing or "
        "knows nobody: every registration would be held. /readyz says so until it is there.",
    ),
})  # fmt: skip
