"""The card layer's errors. Each carries what a caller needs to decide, never a raw SW tuple."""

from __future__ import annotations


class CardError(Exception):
    """Anything that went wrong talking to a card or a reader."""


class ReaderError(CardError):
    """The reader stack: no PC/SC service, no reader, no card."""


class ReaderUnavailable(ReaderError):
    """The PC/SC service (pcscd) is not running or went away."""


class NoReader(ReaderError):
    """No card reader is connected."""


class NoCard(ReaderError):
    """No card was presented within the time allowed."""

    def __init__(self, reader: str | None, timeout_s: float) -> None:
        where = f" on {reader!r}" if reader else ""
        super().__init__(f"no card{where} within {timeout_s:g} s")
        self.reader = reader
        self.timeout_s = timeout_s


class CardRemoved(CardError):
    """The card left the reader during the session."""

    def __init__(self, reader: str | None = None) -> None:
        super().__init__("the card was removed from the reader")
        self.reader = reader


class ApduError(CardError):
    """The card refused a command with a status word this layer has no better name for."""

    def __init__(self, command: str, sw: int) -> None:
        super().__init__(f"{command} failed: SW {sw:04X}")
        self.command = command
        self.sw = sw


class ApplicationNotFound(ApduError):
    """SELECT by name answered 6A82: the card has no such application."""

    def __init__(self, aid: bytes, sw: int) -> None:
        super().__init__(f"SELECT {aid.hex().upper()}", sw)
        self.aid = aid


class FileNotFound(ApduError):
    """SELECT of an elementary file answered 6A82."""

    def __init__(self, fid: int, sw: int) -> None:
        super().__init__(f"SELECT EF {fid:04X}", sw)
        self.fid = fid


class SecurityStatusNotSatisfied(ApduError):
    """69 82: the command needs a PIN that has not been verified in this session."""


class PinError(CardError):
    """The PIN was wrong; the card says how many tries are left (63 Cx)."""

    def __init__(self, tries_left: int) -> None:
        plural = "try" if tries_left == 1 else "tries"
        super().__init__(f"wrong PIN: {tries_left} {plural} left")
        self.tries_left = tries_left


class PinBlocked(CardError):
    """The PIN is blocked (63 C0 or 69 84): only the issuing office can reset it."""

    def __init__(self) -> None:
        super().__init__("the PIN is blocked; it must be reset at the municipal office")


class PinNotIssued(CardError):
    """69 83 to VERIFY: the card was issued without this PIN (a 顔認証マイナンバーカード has
    none): only a face or visual check can prove the holder's presence."""

    def __init__(self) -> None:
        super().__init__(
            "this card was issued without a PIN (a face-only card): check the holder's face "
            "or check visually instead"
        )


class MalformedResponse(CardError):
    """The card answered with data this layer cannot parse."""
