"""The registry's domain errors, on the kernel's pattern (`onshi_kernel.errors`): each class
names its numbered code (`error_codes`) and carries the data a caller needs; its detail is
what went wrong in words, and none carries a My Number, a name or a birth date.
`api/http_errors` turns them into HTTP answers."""

from __future__ import annotations

from datetime import date

from insurer_registry.error_codes import CATALOGUE, RegistryCode
from onshi_kernel.errors import CodedError


class RegistryError(CodedError[RegistryCode]):
    """Base of every error the registry's services raise on purpose."""

    catalogue = CATALOGUE


class CallerMistake(ValueError):
    """A request the registry refuses as malformed (422). Its message names what is wrong,
    never the value; a ValueError of any other kind is the registry's own fault (500)."""


class NotFound(RegistryError):
    """Something the caller named does not exist (or is not theirs to see)."""


class QualificationNotFound(NotFound):
    """No qualification with this id belongs to the calling insurer."""

    def __init__(self, qualification_id: int) -> None:
        super().__init__(
            RegistryCode.QUALIFICATION_NOT_FOUND, f"qualification {qualification_id} not found"
        )
        self.qualification_id = qualification_id


class InsurerNotFound(NotFound):
    """No insurer with this number is registered."""

    def __init__(self, insurer_number: str) -> None:
        super().__init__(
            RegistryCode.INSURER_NOT_FOUND, f"insurer {insurer_number} is not registered"
        )
        self.insurer_number = insurer_number


class Conflict(RegistryError):
    """The request contradicts what the registry already holds."""


class InsurerExists(Conflict):
    """An insurer with this number is already registered."""

    def __init__(self, insurer_number: str) -> None:
        super().__init__(
            RegistryCode.INSURER_EXISTS, f"insurer {insurer_number} is already registered"
        )
        self.insurer_number = insurer_number


class QualificationExists(Conflict):
    """The same qualification (insured number and qualification date) is registered."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(
            RegistryCode.QUALIFICATION_EXISTS,
            f"the qualification is already registered as {existing_id}",
        )
        self.existing_id = existing_id


class InsuredNumberTaken(Conflict):
    """The insured number (記号・番号・枝番) belongs to another person at this insurer."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(
            RegistryCode.INSURED_NUMBER_TAKEN,
            f"the insured number belongs to another person (qualification {existing_id})",
        )
        self.existing_id = existing_id


class OverlappingQualification(Conflict):
    """The person already holds a qualification at this insurer for part of the period."""

    def __init__(self, existing_id: int, start: date, end: date | None) -> None:
        until = end.isoformat() if end else "open"
        super().__init__(
            RegistryCode.OVERLAPPING_QUALIFICATION,
            f"the period overlaps qualification {existing_id} ({start.isoformat()} – {until})",
        )
        self.existing_id = existing_id
        self.start = start
        self.end = end


class AlreadyLost(Conflict):
    """A loss is recorded already; correct it instead of recording another."""

    def __init__(self, qualification_id: int, loss_date: date) -> None:
        super().__init__(
            RegistryCode.ALREADY_LOST,
            f"qualification {qualification_id} was already lost on {loss_date.isoformat()}",
        )
        self.qualification_id = qualification_id
        self.loss_date = loss_date


class VersionConflict(Conflict):
    """The record changed since the caller read it."""

    def __init__(self, qualification_id: int, expected: int, actual: int) -> None:
        super().__init__(
            RegistryCode.VERSION_CONFLICT,
            f"qualification {qualification_id} is at version {actual}, not {expected}",
        )
        self.qualification_id = qualification_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(Conflict):
    """The request id was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(
            RegistryCode.IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used for a different request",
        )
        self.key = key


class LinkageNotHeld(Conflict):
    """Only a held linkage can be confirmed."""

    def __init__(self, qualification_id: int, state: str) -> None:
        super().__init__(
            RegistryCode.LINKAGE_NOT_HELD,
            f"the linkage of qualification {qualification_id} is {state}, not held",
        )
        self.qualification_id = qualification_id
        self.state = state


class LinkageAlreadyConfirmedBy(Conflict):
    """The same user cannot confirm a held linkage twice: the release needs two."""

    def __init__(self, qualification_id: int) -> None:
        super().__init__(
            RegistryCode.LINKAGE_ALREADY_CONFIRMED_BY,
            f"this credential confirmed the linkage of qualification {qualification_id} already",
        )
        self.qualification_id = qualification_id


class LinkageConfirmationByOperator(RegistryError):
    """The operator is no insurer user: it cannot confirm a held linkage."""

    def __init__(self, qualification_id: int) -> None:
        super().__init__(
            RegistryCode.LINKAGE_CONFIRMATION_BY_OPERATOR,
            f"the linkage of qualification {qualification_id} is confirmed by insurer users",
        )
        self.qualification_id = qualification_id


class AuthenticationFailed(RegistryError):
    """The credential is missing, malformed, unknown, revoked or of the wrong kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(RegistryCode.INVALID_CREDENTIAL, reason)
        self.reason = reason


class RegisterUnavailable(RegistryError):
    """The issuer's resident register is missing or empty: no registration could match."""

    def __init__(self) -> None:
        super().__init__(RegistryCode.REGISTER_UNAVAILABLE, retry_after_s=30)


class BadRequest(RegistryError):
    """The request lacks something the API needs regardless of its content."""


class IdempotencyKeyRequired(BadRequest):
    """A write came without a usable Idempotency-Key header."""

    def __init__(self, reason: str) -> None:
        super().__init__(RegistryCode.IDEMPOTENCY_KEY_REQUIRED, reason)
        self.reason = reason
