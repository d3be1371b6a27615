"""The registry's domain errors. Each carries the data a caller needs; none carries a
My Number, a name or a birth date. `http_errors` maps them to HTTP answers."""

from __future__ import annotations

from datetime import date


class RegistryError(Exception):
    """Base of every error the registry's services raise on purpose."""


class CallerMistake(ValueError):
    """A request the registry refuses as malformed (422). Its message names what is wrong,
    never the value; a ValueError of any other kind is the registry's own fault (500)."""


class NotFound(RegistryError):
    """Something the caller named does not exist (or is not theirs to see)."""


class QualificationNotFound(NotFound):
    """No qualification with this id belongs to the calling insurer."""

    def __init__(self, qualification_id: int) -> None:
        super().__init__(f"qualification {qualification_id} not found")
        self.qualification_id = qualification_id


class InsurerNotFound(NotFound):
    """No insurer with this number is registered."""

    def __init__(self, insurer_number: str) -> None:
        super().__init__(f"insurer {insurer_number} is not registered")
        self.insurer_number = insurer_number


class InsuredNumberNotFound(NotFound):
    """No qualification carries this insured number."""

    def __init__(self) -> None:
        super().__init__("no qualification carries this insured number")


class Conflict(RegistryError):
    """The request contradicts what the registry already holds."""


class InsurerExists(Conflict):
    """An insurer with this number is already registered."""

    def __init__(self, insurer_number: str) -> None:
        super().__init__(f"insurer {insurer_number} is already registered")
        self.insurer_number = insurer_number


class QualificationExists(Conflict):
    """The same qualification (insured number and qualification date) is registered."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"the qualification is already registered as {existing_id}")
        self.existing_id = existing_id


class InsuredNumberTaken(Conflict):
    """The insured number (記号・番号・枝番) belongs to another person at this insurer."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(
            f"the insured number belongs to another person (qualification {existing_id})"
        )
        self.existing_id = existing_id


class OverlappingQualification(Conflict):
    """The person already holds a qualification at this insurer for part of the period."""

    def __init__(self, existing_id: int, start: date, end: date | None) -> None:
        until = end.isoformat() if end else "open"
        super().__init__(
            f"the period overlaps qualification {existing_id} ({start.isoformat()} – {until})"
        )
        self.existing_id = existing_id
        self.start = start
        self.end = end


class AlreadyLost(Conflict):
    """A loss is recorded already; correct it instead of recording another."""

    def __init__(self, qualification_id: int, loss_date: date) -> None:
        super().__init__(
            f"qualification {qualification_id} was already lost on {loss_date.isoformat()}"
        )
        self.qualification_id = qualification_id
        self.loss_date = loss_date


class VersionConflict(Conflict):
    """The record changed since the caller read it."""

    def __init__(self, qualification_id: int, expected: int, actual: int) -> None:
        super().__init__(f"qualification {qualification_id} is at version {actual}, not {expected}")
        self.qualification_id = qualification_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(Conflict):
    """The request id was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__("this Idempotency-Key was used for a different request")
        self.key = key


class AuthenticationFailed(RegistryError):
    """The credential is missing, malformed, unknown, revoked or of the wrong kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(RegistryError):
    """The request lacks something the API needs regardless of its content."""


class IdempotencyKeyRequired(BadRequest):
    """A write came without a usable Idempotency-Key header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
