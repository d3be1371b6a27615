"""`QualificationSource` over HTTP: the registry's network endpoint, with a `net_…`
credential."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import httpx

from insurer_registry.errors import AuthenticationFailed
from insurer_registry.lookup.schemas import (
    ByInsuredNumber,
    HoldersBody,
    LinkageHistoryBody,
    PersonQualificationsBody,
)
from insurer_registry.lookup.types import InsuredNumber, LinkageEntry, PersonQualifications
from insurer_registry.members.persons import validate_person_ref


class RegistryUnavailable(Exception):
    """The registry answered with something other than a lookup result."""

    def __init__(self, status_code: int, code: str) -> None:
        super().__init__(f"registry answered {status_code} ({code})")
        self.status_code = status_code
        self.code = code


class HttpQualificationSource:
    """The lookup over the registry's network endpoint.

    `client` carries the base URL (and, in tests, the transport); the credential is sent as
    a bearer token on every request.
    """

    def __init__(self, *, client: httpx.Client, token: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    def connect(cls, *, base_url: str, token: str, timeout: float = 5.0) -> HttpQualificationSource:
        """A source talking to the registry at `base_url`."""
        return cls(client=httpx.Client(base_url=base_url, timeout=timeout), token=token)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._client.post(path, json=body, headers=self._headers)
        if response.status_code == 200:
            return response.json()
        code = _error_code(response)
        if response.status_code == 401:
            raise AuthenticationFailed(code)
        raise RegistryUnavailable(response.status_code, code)

    def qualifications_of(self, person_ref: str) -> PersonQualifications:
        """Every qualification of the person, newest first."""
        validate_person_ref(person_ref)
        answer = self._post("/network/v1/qualifications/by-person", {"PersonRef": person_ref})
        return PersonQualificationsBody.model_validate(answer).value()

    async def aqualifications_of(self, person_ref: str) -> PersonQualifications:
        """`qualifications_of` in a worker thread (this source's HTTP client is synchronous)."""
        return await anyio.to_thread.run_sync(self.qualifications_of, person_ref)

    async def aopen(self) -> None:
        """Nothing is held per event loop."""

    async def aclose(self) -> None:
        """Nothing is held per event loop."""

    def holders_of(self, insured: InsuredNumber) -> tuple[PersonQualifications, ...]:
        """Whoever holds or held `insured` with its birth date, with their qualifications."""
        answer = self._post(
            "/network/v1/qualifications/by-insured-number",
            ByInsuredNumber.of(insured).model_dump(mode="json", by_alias=True),
        )
        return HoldersBody.model_validate(answer).value()

    def linkage_history(self, person_ref: str) -> tuple[LinkageEntry, ...]:
        """Every linkage event of the person, oldest first."""
        validate_person_ref(person_ref)
        answer = self._post("/network/v1/linkage/by-person", {"PersonRef": person_ref})
        return LinkageHistoryBody.model_validate(answer).value()

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unexpected_answer"
