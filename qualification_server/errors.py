"""The server's refusals: `QualificationError(code)`, raised by services and turned into
an answer by `http_errors.py`. The codes and their texts are the wire contract's
(`contract.codes`)."""

from __future__ import annotations

from qualification_server.contract.codes import CATALOGUE, Code, ErrorInfo

__all__ = ["CATALOGUE", "Code", "ErrorInfo", "QualificationError"]


class QualificationError(Exception):
    """A refusal with a stable code. `detail` adds facts for IT (never personal data)."""

    def __init__(
        self, code: Code, detail: str | None = None, *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(f"{code}: {detail or CATALOGUE[code].it}")
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s  # when trying again can succeed (HTTP Retry-After)

    @property
    def info(self) -> ErrorInfo:
        return CATALOGUE[self.code]
