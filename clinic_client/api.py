"""The front desk's client for the qualification server API (httpx, typed).

Answers come back as the server's pydantic models (`qualification_server.contract.schemas`), so the
answer's element names (docs/answer.md) are checked on both sides. A refusal raises
`ServerRefused` with the numbered code and both texts; a server that cannot be reached
raises `ServerUnreachable`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from clinic_client.log_receipts import ReceiptBook
from onshi_kernel.numbers import validate_clinic_code
from onshi_kernel.transparency.receipt import RECEIPT_HEADER
from qualification_server.contract.batch import BatchReceipt, BatchResult
from qualification_server.contract.lockouts import FaceFailureAnswer, VisualPasscodeAnswer
from qualification_server.contract.reference_numbers import (
    ReferenceNumberAnswer,
    ReferenceNumberBatchAnswer,
)
from qualification_server.contract.schemas import (
    AccessHistory,
    Consents,
    EligibilityAnswer,
    InsuredCardQuery,
    RegistrationResult,
)


class ServerError(Exception):
    """The qualification server did not answer as hoped."""


class ServerUnreachable(ServerError):
    """No answer at all (network, DNS, timeout)."""


@dataclass
class ServerRefused(ServerError):
    """A numbered refusal (e.g. Q1005 revoked certificate)."""

    status: int
    code: str
    message: str  # for the front desk (Japanese)
    message_it: str
    request_id: str | None = None  # the server's, as its IT log names the refusal

    def __str__(self) -> str:
        return f"{self.code}: {self.message_it}"


class QualificationClient:
    """One clinic's connection to the qualification server."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        http: httpx.Client | None = None,
        receipts: ReceiptBook | None = None,
    ) -> None:
        """`http` replaces the client built from `base_url` (tests pass a TestClient);
        `receipts` keeps every answer's log receipt (`log_receipts`)."""
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout_s)
        self._receipts = receipts
        if token:  # the portal (a person's own PC) has no clinic credential: it sends none
            self._http.headers["Authorization"] = f"Bearer {token}"
        self.clinic_code = clinic_code_of(token)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self._send("POST", path, json=body, headers=headers)

    def _get(self, path: str) -> Any:
        return self._send("GET", path)

    def _send(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{self._http.base_url}: {exc}") from exc
        if response.status_code in (200, 202):
            receipt = response.headers.get(RECEIPT_HEADER)
            if receipt is not None and self._receipts is not None:
                self._receipts.keep(receipt, path)
            return response.json()
        try:
            error = response.json()["error"]
            raise ServerRefused(
                response.status_code,
                error["code"],
                error["message"],
                error["message_it"],
                error.get("request_id"),
            )
        except (ValueError, KeyError, TypeError):
            raise ServerError(f"HTTP {response.status_code} from {path}") from None

    def challenge(self, purpose: str = "check") -> bytes:
        """A fresh one-time challenge (raw bytes; the card signs SHA-256 of them)."""
        data = self._post("/v1/challenges", {"purpose": purpose})
        return base64.b64decode(data["challenge"])

    def check_card(
        self,
        *,
        challenge: bytes,
        certificate: bytes,
        proof: dict[str, str],
        consents: Consents | None = None,
        arbitrary_file_identifier: str | None = None,
        confirmation_date: str | None = None,
    ) -> EligibilityAnswer:
        """POST /v1/eligibility/card. `proof` is {"method": "pin", "signature": b64} or a
        device proof; `confirmation_date` (YYYYMMDD) asks as of another day."""
        body: dict[str, Any] = {
            "challenge": base64.b64encode(challenge).decode(),
            "certificate": base64.b64encode(certificate).decode(),
            "proof": proof,
            "consents": (consents or Consents()).model_dump(),
        }
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        if confirmation_date:
            body["qualification_confirmation_date"] = confirmation_date
        return EligibilityAnswer.model_validate(self._post("/v1/eligibility/card", body))

    def visual_passcode(
        self, *, arbitrary_file_identifier: str | None = None
    ) -> VisualPasscodeAnswer:
        """目視確認用パスコード取得 (OQS-IF-049/050): a passcode for one visual check here."""
        body: dict[str, Any] = {}
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        return VisualPasscodeAnswer.model_validate(self._post("/v1/visual-passcodes", body))

    def report_face_failure(
        self, *, challenge: bytes, certificate: bytes, device_id: str, signature: bytes
    ) -> FaceFailureAnswer:
        """A face match that failed at this clinic's reader `device_id`, which signed
        `face_failure_message(challenge, certificate)`; the answer counts the card's
        failures (from the 10th its face checks are refused, Q2008)."""
        body = {
            "challenge": base64.b64encode(challenge).decode(),
            "certificate": base64.b64encode(certificate).decode(),
            "device_id": device_id,
            "signature": base64.b64encode(signature).decode(),
        }
        return FaceFailureAnswer.model_validate(self._post("/v1/face-failures", body))

    def lookup(
        self,
        query: InsuredCardQuery,
        *,
        confirmation_date: str | None = None,
        arbitrary_file_identifier: str | None = None,
    ) -> EligibilityAnswer:
        """個別照会 by insured number and birth date."""
        body: dict[str, Any] = {"query": query.model_dump(exclude_none=True)}
        if confirmation_date:
            body["qualification_confirmation_date"] = confirmation_date
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        return EligibilityAnswer.model_validate(self._post("/v1/eligibility/insured-number", body))

    def submit_batch(
        self,
        queries: list[InsuredCardQuery],
        *,
        confirmation_date: str | None = None,
        arbitrary_file_identifier: str | None = None,
        idempotency_key: str | None = None,
    ) -> BatchReceipt:
        """一括照会, step 1: the entries handed over; the receipt holds the ReceptionNumber.
        With `idempotency_key`, a retry (after a lost answer) gets the same batch."""
        body: dict[str, Any] = {"entries": [q.model_dump(exclude_none=True) for q in queries]}
        if confirmation_date:
            body["qualification_confirmation_date"] = confirmation_date
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return BatchReceipt.model_validate(self._post("/v1/eligibility/batches", body, headers))

    def fetch_batch(self, reception_number: str) -> BatchResult:
        """一括照会, step 2: the result; `SegmentOfResult` 2 (処理中) until it is done."""
        return BatchResult.model_validate(self._get(f"/v1/eligibility/batches/{reception_number}"))

    def register_reference_number(
        self,
        query: InsuredCardQuery,
        reference_number: str,
        *,
        arbitrary_file_identifier: str | None = None,
    ) -> ReferenceNumberAnswer:
        """照会番号登録: this clinic's own number for the person `query` names."""
        body: dict[str, Any] = {"entry": _registration_entry(query, reference_number)}
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        return ReferenceNumberAnswer.model_validate(self._post("/v1/reference-numbers", body))

    def register_reference_numbers(
        self,
        entries: list[tuple[InsuredCardQuery, str]],
        *,
        arbitrary_file_identifier: str | None = None,
    ) -> ReferenceNumberBatchAnswer:
        """照会番号一括登録: each (query, number) registered or refused on its own."""
        body: dict[str, Any] = {"entries": [_registration_entry(q, n) for q, n in entries]}
        if arbitrary_file_identifier:
            body["arbitrary_file_identifier"] = arbitrary_file_identifier
        answer = self._post("/v1/reference-numbers/batch", body)
        return ReferenceNumberBatchAnswer.model_validate(answer)

    def register(
        self, *, challenge: bytes, certificate: bytes, signature: bytes
    ) -> RegistrationResult:
        """初回登録 at this clinic's reader (the person consented at the desk)."""
        body = {
            "proof": {
                "challenge": base64.b64encode(challenge).decode(),
                "certificate": base64.b64encode(certificate).decode(),
                "signature": base64.b64encode(signature).decode(),
            },
            "consent": True,
        }
        return RegistrationResult.model_validate(self._post("/v1/registrations", body))

    # --- the portal (マイナポータル): authenticated by the card, no clinic credential ---

    def portal_challenge(self, purpose: str = "portal") -> bytes:
        """A one-time portal challenge ("portal" to view or withdraw, "registration")."""
        data = self._post("/portal/v1/challenges", {"purpose": purpose})
        return base64.b64decode(data["challenge"])

    def portal_history(
        self, *, challenge: bytes, certificate: bytes, signature: bytes
    ) -> AccessHistory:
        """The person's registration and who looked at their data (a portal challenge)."""
        body = {"proof": _proof(challenge, certificate, signature)}
        return AccessHistory.model_validate(self._post("/portal/v1/access-history", body))

    def portal_register(
        self, *, challenge: bytes, certificate: bytes, signature: bytes
    ) -> RegistrationResult:
        """初回登録 at the portal (the person ticked the consent; a registration challenge)."""
        body = {"proof": _proof(challenge, certificate, signature), "consent": True}
        return RegistrationResult.model_validate(self._post("/portal/v1/registrations", body))

    def portal_unregister(self, *, challenge: bytes, certificate: bytes, signature: bytes) -> bool:
        """利用登録の解除 (a portal challenge); True if there was a registration."""
        body = {"proof": _proof(challenge, certificate, signature)}
        return bool(self._post("/portal/v1/unregister", body)["unregistered"])


def _proof(challenge: bytes, certificate: bytes, signature: bytes) -> dict[str, str]:
    return {
        "challenge": base64.b64encode(challenge).decode(),
        "certificate": base64.b64encode(certificate).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def _registration_entry(query: InsuredCardQuery, reference_number: str) -> dict[str, Any]:
    return {
        "QualificationConfirmSearchInfo": query.model_dump(exclude_none=True),
        "ReferenceNumber": reference_number,
    }


def clinic_code_of(token: str) -> str | None:
    """The 医療機関コード a clinic token names (`<医療機関コード>.<secret>`), or None when it
    names none: the connector writes it into the answers it makes itself."""
    code, dot, _ = token.partition(".")
    try:
        return validate_clinic_code(code) if dot else None
    except ValueError:
        return None


def challenge_digest(challenge: bytes) -> bytes:
    """What the card signs: SHA-256 of the challenge bytes."""
    return hashlib.sha256(challenge).digest()
