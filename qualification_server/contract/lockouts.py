"""Lockouts on the wire: a face reader's report of a failed face match (counted per card;
from the `FACE_FAILURE_LIMIT`th on, face mode is refused for the card, Q2008), and the
目視確認用パスコード a visual check must carry (the real interface's OQS-IF-049 request and
050 result). The routes and bodies are this project's; the passcode answer's element names
are chosen where the real ones are not known [unconfirmed] (docs/file-interface.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from qualification_server.contract.presence import PASSCODE_DIGITS, PASSCODE_PATTERN
from qualification_server.contract.schemas import (
    CERTIFICATE_DESCRIPTION,
    Base64,
    ChallengeText,
    Flag,
    Spec,
    Strict,
)

# Failed face matches after which a card's face mode is refused (SPEC: 10 failures).
FACE_FAILURE_LIMIT = 10
PasscodeText = Annotated[
    str,
    Field(
        pattern=PASSCODE_PATTERN,
        description=f"a 目視確認用パスコード ({PASSCODE_DIGITS} digits) this server issued to "
        "the clinic: missing Q2010, unknown Q2011, expired Q2012, used before Q2013, another "
        "clinic's Q2014",
    ),
]


class FaceFailureReport(Strict):
    """A face match that failed at the clinic's registered reader, for the card it saw: the
    device signs `face_failure_message(challenge, certificate)` (contract.presence) over a
    check challenge, which the report uses up."""

    challenge: ChallengeText
    certificate: Base64 = Field(description=CERTIFICATE_DESCRIPTION)
    device_id: str = Field(min_length=1, max_length=64)
    signature: Base64 = Field(description="Ed25519 signature by the registered device")


class FaceFailureAnswer(Strict):
    """The failure counted: the card's failures in a row, and what is left before its face
    mode locks (`locked`: face checks are refused from now on, Q2008)."""

    code: Literal["Q2009"] = Field(description="Q2009: a failed face match, counted")
    failures: int = Field(ge=1, le=FACE_FAILURE_LIMIT)
    remaining: int = Field(ge=0, lt=FACE_FAILURE_LIMIT)
    locked: bool


class VisualPasscodeRequest(Strict):
    """目視確認用パスコード取得 (OQS-IF-049)."""

    arbitrary_file_identifier: str | None = Field(default=None, max_length=64)


class VisualPasscodeHeader(Spec):
    ProcessExecutionTime: str
    MedicalInstitutionCode: str
    ArbitraryFileIdentifier: str | None = None
    SegmentOfResult: Literal["1", "2", "9"] = "1"
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    CharacterCodeIdentifier: Flag = "0"


class VisualPasscodeBody(Spec):
    VisualConfirmationPasscode: PasscodeText
    VisualConfirmationPasscodeExpirationTime: str = Field(
        description="YYYYMMDDHHmmss, Japan time: the passcode answers no visual check after it"
    )


class VisualPasscodeAnswer(Spec):
    """目視確認用パスコード取得結果 (OQS-IF-050): a passcode for one visual check at this
    clinic, short-lived."""

    MessageHeader: VisualPasscodeHeader
    MessageBody: VisualPasscodeBody
