"""Stable, numbered errors of the wire contract: each code with its HTTP status, a short
text for the front desk (Japanese) and one for IT, in the kernel's pattern
(`onshi_kernel.errors`). Codes never change meaning; new ones are added at the end of their
hundred.

Two codes are no refusal: Q1007 marks an answer given to a card whose certificate expired, in
its grace (`ProcessingResultStatus` 1 with this `ProcessingResultCode` and its text as
`ProcessingResultMessage`, docs/answer.md), and Q2009 a reader's report of a failed face
match, counted (`cards/lockouts.py`); their status is the answer's, 200."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from onshi_kernel.errors import ErrorInfo, catalogue


class Code(StrEnum):
    MALFORMED_CERTIFICATE = "Q1001"
    UNTRUSTED_CERTIFICATE = "Q1002"
    CERTIFICATE_EXPIRED = "Q1003"
    CERTIFICATE_NOT_YET_VALID = "Q1004"
    CERTIFICATE_REVOKED = "Q1005"
    REVOCATION_UNAVAILABLE = "Q1006"
    ANSWERED_IN_GRACE = "Q1007"
    CHALLENGE_UNKNOWN = "Q2001"
    CHALLENGE_EXPIRED = "Q2002"
    CHALLENGE_REPLAYED = "Q2003"
    CHALLENGE_FOREIGN = "Q2004"
    PROOF_INVALID = "Q2005"
    DEVICE_UNKNOWN = "Q2006"
    CONSENT_REQUIRED = "Q2007"
    FACE_LOCKED = "Q2008"
    FACE_NOT_MATCHED = "Q2009"
    PASSCODE_MISSING = "Q2010"
    PASSCODE_UNKNOWN = "Q2011"
    PASSCODE_EXPIRED = "Q2012"
    PASSCODE_REUSED = "Q2013"
    PASSCODE_FOREIGN = "Q2014"
    CARD_NOT_REGISTERED = "Q3001"
    PERSON_UNKNOWN = "Q3002"
    NO_QUALIFICATION = "Q3003"
    QUALIFICATION_HELD = "Q3004"
    INSURED_NUMBER_NOT_MATCHED = "Q4001"
    TOO_MANY_LOOKUPS = "Q4002"
    BATCH_TOO_LARGE = "Q4003"
    BATCH_UNKNOWN = "Q4004"
    BATCH_KEY_REUSED = "Q4005"
    BRANCH_NUMBER_NEEDED = "Q4006"
    REFERENCE_NUMBER_TAKEN = "Q4007"
    CLIENT_UNAUTHENTICATED = "Q5001"
    FORBIDDEN = "Q5002"
    PORTAL_UNAUTHENTICATED = "Q5003"
    INVALID_REQUEST = "Q6001"
    REQUEST_TOO_LARGE = "Q6002"
    INTERNAL = "Q9001"
    UNAVAILABLE = "Q9002"


RETRY = "しばらくしてからもう一度お試しください。"

CATALOGUE: Mapping[Code, ErrorInfo] = catalogue(Code, {
    Code.MALFORMED_CERTIFICATE: ErrorInfo(
        400, "カードを読み取れませんでした。カードを置き直してください。",
        "The certificate is not a DER X.509 certificate.",
    ),
    Code.UNTRUSTED_CERTIFICATE: ErrorInfo(
        403, "このカードは確認できません。健康保険証などで資格を確認してください。",
        "The certificate does not chain to a configured JPKI CA or breaks the JPKI "
        "user-authentication profile.",
    ),
    Code.CERTIFICATE_EXPIRED: ErrorInfo(
        403, "カードの電子証明書の有効期限が切れています。市区町村での更新をご案内ください。",
        "The certificate is past its notAfter at the time of the check.",
    ),
    Code.CERTIFICATE_NOT_YET_VALID: ErrorInfo(
        403, "カードの電子証明書がまだ有効になっていません。",
        "The certificate is before its notBefore at the time of the check.",
    ),
    Code.CERTIFICATE_REVOKED: ErrorInfo(
        403, "このカードの電子証明書は失効しています。健康保険証などで資格を確認してください。",
        "The certificate is on its CA's CRL.",
    ),
    Code.REVOCATION_UNAVAILABLE: ErrorInfo(
        503, f"現在カードの確認ができません。{RETRY}",
        "The issuing CA's CRL is missing, invalid or past its next update: the server "
        "fails closed. Publish a current CRL.",
    ),
    Code.ANSWERED_IN_GRACE: ErrorInfo(
        200, "カードの電子証明書の有効期限が切れています（期限後3か月間の猶予期間中のため"
        "資格情報のみ確認できます。薬剤情報等は閲覧できません）。"
        "市区町村での更新をご案内ください。",
        "Not a refusal: the certificate is past its notAfter but within its three months' "
        "grace, so qualification information is answered and every viewing consent refused.",
    ),
    Code.CHALLENGE_UNKNOWN: ErrorInfo(
        400, "確認をやり直してください。カードを置き直してください。",
        "The challenge was not issued by this system or is malformed.",
    ),
    Code.CHALLENGE_EXPIRED: ErrorInfo(
        400, "確認の時間が切れました。カードを置き直してください。",
        "The challenge expired before the proof arrived.",
    ),
    Code.CHALLENGE_REPLAYED: ErrorInfo(
        409, "この確認は既に使われています。もう一度やり直してください。",
        "The challenge was already used: every challenge answers one check only.",
    ),
    Code.CHALLENGE_FOREIGN: ErrorInfo(
        403, "確認をやり直してください。",
        "The challenge was issued to another client.",
    ),
    Code.PROOF_INVALID: ErrorInfo(
        403, "本人確認に失敗しました。もう一度やり直してください。",
        "The proof of presence does not verify (card or device signature).",
    ),
    Code.DEVICE_UNKNOWN: ErrorInfo(
        403, "この読取端末は登録されていません。システム管理者に連絡してください。",
        "The face/visual-check device is not registered to this clinic.",
    ),
    Code.CONSENT_REQUIRED: ErrorInfo(
        400, "利用登録には本人の同意が必要です。",
        "The registration request did not carry the person's consent.",
    ),
    Code.FACE_LOCKED: ErrorInfo(
        403, "顔認証がロックされています。暗証番号または目視確認で確認してください。",
        "Face matching failed 10 times for this card (counted by the server, per auth "
        "certificate): face mode is refused for it. A successful PIN check unlocks it; a "
        "visual check does not.",
    ),
    Code.FACE_NOT_MATCHED: ErrorInfo(
        200, "顔認証で本人を確認できませんでした。もう一度お試しいただくか、暗証番号または"
        "目視確認で確認してください。",
        "Not a refusal: the reader's report of a failed face match, counted and recorded; "
        "the answer says how many failures the card has and how many remain before face "
        "mode locks.",
    ),
    Code.PASSCODE_MISSING: ErrorInfo(
        403, "目視確認には目視確認用パスコードが必要です。パスコードを取得してください。",
        "A visual check must carry a 目視確認用パスコード this server issued to the clinic "
        "(POST /v1/visual-passcodes).",
    ),
    Code.PASSCODE_UNKNOWN: ErrorInfo(
        403, "目視確認用パスコードが正しくありません。パスコードを取得し直してください。",
        "No 目視確認用パスコード with this value was issued (or it was removed a day after "
        "it expired).",
    ),
    Code.PASSCODE_EXPIRED: ErrorInfo(
        403, "目視確認用パスコードの有効期限が切れています。パスコードを取得し直してください。",
        "The 目視確認用パスコード expired (by the database's clock) before the visual check "
        "arrived.",
    ),
    Code.PASSCODE_REUSED: ErrorInfo(
        409, "この目視確認用パスコードは使用済みです。パスコードを取得し直してください。",
        "The 目視確認用パスコード already answered a visual check: each answers one only.",
    ),
    Code.PASSCODE_FOREIGN: ErrorInfo(
        403, "この目視確認用パスコードは別の医療機関のものです。パスコードを取得し直してください。",
        "The 目視確認用パスコード was issued to another clinic.",
    ),
    Code.CARD_NOT_REGISTERED: ErrorInfo(
        404, "このカードは健康保険証として利用登録されていません。この端末で登録できます。",
        "The card holder has no registration (初回登録) for use as a health insurance card.",
    ),
    Code.PERSON_UNKNOWN: ErrorInfo(
        404, "このカードの持ち主を確認できません。市区町村にお問い合わせください。",
        "The issuer directory has no person for this certificate.",
    ),
    Code.NO_QUALIFICATION: ErrorInfo(
        404, "保険の資格情報が見つかりません。保険者にお問い合わせください。",
        "The insurer registry holds no qualification for this person.",
    ),
    Code.QUALIFICATION_HELD: ErrorInfo(
        409, "資格情報を現在表示できません。保険者が登録内容（氏名・生年月日・性別・住所）を"
        "確認しています。資格確認書または資格情報のお知らせで資格を確認してください。",
        "The registry holds the person's qualification instead of answering it: the "
        "insurer's registration did not match the card issuer's four items (name, birth "
        "date, sex, address), or the issuer does not know the person, so it may be another "
        "person's. Nothing of it is answered until the insurer corrects the registration or "
        "two of its users confirm it; detail names the insurer and the items that differ.",
    ),
    Code.INSURED_NUMBER_NOT_MATCHED: ErrorInfo(
        404, "該当する資格がありません。保険者番号・記号・番号・枝番と生年月日をご確認ください。",
        "No qualification matches this insured number and birth date.",
    ),
    Code.TOO_MANY_LOOKUPS: ErrorInfo(
        429, f"照会が多すぎます。{RETRY}",
        "Rate limit on insured-number lookups for this clinic reached; see Retry-After.",
    ),
    Code.BATCH_TOO_LARGE: ErrorInfo(
        413, "一度に照会できる件数を超えています。分けて照会してください。",
        "The batch holds more entries than allowed.",
    ),
    Code.BATCH_UNKNOWN: ErrorInfo(
        404, "該当する一括照会がありません。受付番号を確認してください。",
        "No batch of this clinic has this reception number (another clinic's is answered the "
        "same), or its result was already removed after the retention period.",
    ),
    Code.BATCH_KEY_REUSED: ErrorInfo(
        409, "この一括照会は別の内容で受け付け済みです。",
        "The Idempotency-Key was used by this clinic for a batch with other entries.",
    ),
    Code.BRANCH_NUMBER_NEEDED: ErrorInfo(
        409, "同じ記号・番号と生年月日の方が複数います。枝番を入れて登録してください。",
        "Several holders of this card number share the birth date (twins): a 照会番号 is "
        "registered for one person only, so the request must carry the 枝番.",
    ),
    Code.REFERENCE_NUMBER_TAKEN: ErrorInfo(
        409, "この照会番号は別の方に登録済みです。照会番号を確認してください。",
        "This clinic has registered the 照会番号 for another person; a number names one "
        "person only (nothing was changed).",
    ),
    Code.CLIENT_UNAUTHENTICATED: ErrorInfo(
        401, "医療機関の認証に失敗しました。システム管理者に連絡してください。",
        "Missing or invalid clinic credential (Authorization: Bearer <token>).",
    ),
    Code.FORBIDDEN: ErrorInfo(
        403, "この操作は許可されていません。",
        "The credential does not allow this operation.",
    ),
    Code.PORTAL_UNAUTHENTICATED: ErrorInfo(
        401, "カードでの本人確認ができませんでした。",
        "The portal request was not authenticated with the card.",
    ),
    Code.INVALID_REQUEST: ErrorInfo(
        422, "入力内容に誤りがあります。",
        "The request does not match the API schema; see detail.",
    ),
    Code.REQUEST_TOO_LARGE: ErrorInfo(
        413, "送信データが大きすぎます。",
        "The request body is larger than the server accepts (ONSHI_MAX_REQUEST_BYTES); it was "
        "refused before being read to the end.",
    ),
    Code.INTERNAL: ErrorInfo(
        500, f"システムエラーが発生しました。{RETRY}",
        "Unexpected server error; the request id locates it in the server log.",
    ),
    Code.UNAVAILABLE: ErrorInfo(
        503, f"一時的に利用できません。{RETRY}",
        "The database is unavailable; retry after the Retry-After delay.",
    ),
})  # fmt: skip
