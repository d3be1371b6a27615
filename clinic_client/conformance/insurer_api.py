"""The registry's insurer API (`/v1`, insurer_registry/README.md) as the insurer-side
scenarios call it: plain HTTP with an insurer's credential, nothing imported from the
registry, so any registry that speaks the same API can be checked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class InsurerAccess:
    """Where the registry's insurer API is, and two credentials of the kit's INSURER_A:
    distinct users, since releasing a held linkage takes two."""

    url: str
    credential: str
    second_credential: str

    def __repr__(self) -> str:
        # the credentials are secrets: a failure's repr must not print them
        return f"InsurerAccess(url={self.url!r})"


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer of the insurer API: its status and JSON body (empty if it had none)."""

    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        """The registry's error code (`R…`) of a refusal, None for a success."""
        error = self.body.get("error")
        return str(error.get("code")) if isinstance(error, dict) else None

    def describe(self) -> str:
        """The status and, for a refusal, its code: what a failed expectation reports."""
        return f"HTTP {self.status}" + (f" {self.code}" if self.code else "")


class InsurerApi:
    """One credential's calls. Every write sends a fresh `Idempotency-Key`: each call is a
    new request, never a retry of an earlier one."""

    def __init__(self, url: str, credential: str, *, timeout: float = TIMEOUT_S) -> None:
        """A client of the insurer API at `url` (its base, without `/v1`)."""
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {credential}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> InsurerApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: dict[str, Any] | None, write: bool) -> Reply:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if write else {}
        response = self._http.request(method, path, json=body, headers=headers)
        try:
            parsed = response.json()
        except ValueError:
            parsed = {}
        return Reply(response.status_code, parsed if isinstance(parsed, dict) else {})

    def register(self, member: dict[str, Any]) -> Reply:
        """`POST /v1/members`: register a qualification (資格取得)."""
        return self._send("POST", "/v1/members", member, write=True)

    def correct(self, qualification_id: int, changes: dict[str, Any]) -> Reply:
        """`PATCH /v1/members/{id}`: change the fields sent."""
        return self._send("PATCH", f"/v1/members/{qualification_id}", changes, write=True)

    def confirm(self, qualification_id: int) -> Reply:
        """`POST /v1/members/{id}/linkage/confirmations`: this user confirms a held linkage."""
        path = f"/v1/members/{qualification_id}/linkage/confirmations"
        return self._send("POST", path, None, write=True)

    def record_loss(self, qualification_id: int, loss_date: str, reason: str) -> Reply:
        """`POST /v1/members/{id}/loss`: the qualification ends (資格喪失) on `loss_date`."""
        body = {"DisqualificationDate": loss_date, "ReasonOfLoss": reason}
        return self._send("POST", f"/v1/members/{qualification_id}/loss", body, write=True)

    def search(self, criteria: dict[str, Any]) -> Reply:
        """`POST /v1/members/search`: the caller's own members that meet `criteria`."""
        return self._send("POST", "/v1/members/search", criteria, write=False)
