"""The server's refusals: `QualificationError(code)`, raised by services and turned into
an answer by `api/errors.py`. The codes and their texts are the wire contract's
(`contract.codes`); the pattern is the kernel's (`onshi_kernel.errors.CodedError`)."""

from __future__ import annotations

from onshi_kernel.errors import CodedError
from qualification_server.contract.codes import CATALOGUE, Code

__all__ = ["CATALOGUE", "Code", "QualificationError"]


class QualificationError(CodedError[Code]):
    """A refusal with a stable code. `detail` adds facts for IT (never personal data)."""

    catalogue = CATALOGUE
