"""The check-in record: what the patient-facing reader (clinic_client.reader_web) tells the
reception terminal after each finished check, answered or failed.

The reader POSTs one to `{ONSHI_CLINIC_RECEPTION_URL}/api/check-ins` with
`Authorization: Bearer {ONSHI_CLINIC_RECEPTION_KEY}`. It never carries the PIN: the PIN is
typed on the reader's own page and goes only to the card (docs/front-desk.md)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

CheckMethod = Literal["pin", "face", "visual"]
Outcome = Literal["answered", "failed"]
Credential = Literal["card", "face_card", "smartphone"]
Prescription = Literal["paper", "electronic"]


class CheckInConsents(BaseModel):
    """What the patient answered on the reader's consent screens."""

    model_config = ConfigDict(extra="forbid")

    medication: bool = False  # 診療・薬剤情報の提供
    checkups: bool = False  # 特定健診情報
    limit: bool = False  # 限度額情報の提供
    # 電子処方箋: the server contract has no request field for it, so the choice travels
    # here (and as PrescriptionIssueSelect in `answer`); None: not asked (the check failed first)
    prescription: Prescription | None = None


class CheckInFailure(BaseModel):
    """Why the check ended without an answer: a `clinic_client.desk.FailureKind` value, the
    server's Q code when the server refused, and the Japanese text the patient saw."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    code: str | None = None
    message_ja: str


class CheckIn(BaseModel):
    """One finished check at the reader. `answer` is the server's EligibilityAnswer as
    `model_dump(exclude_none=True)` when answered, `failure` when not (exactly one is set)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    checked_at: AwareDatetime  # Japan time, +09:00
    method: CheckMethod
    outcome: Outcome
    credential: Credential | None = None
    consents: CheckInConsents
    answer: dict[str, Any] | None = None
    failure: CheckInFailure | None = None


__all__ = ["CheckIn", "CheckInConsents", "CheckInFailure", "CheckMethod", "Credential", "Outcome"]
