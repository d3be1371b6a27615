"""What the front desk does with a card: check it (PIN, face or visual), or register it.
And what each failure means for the receptionist: one `Failure` per situation, with a
Japanese and an English text and what to do next.

A visual check carries a 目視確認用パスコード the server issued to the clinic (the page gets
one first and shows it; a scripted check gets its own). A face match that failed at the
reader is reported (`report_face_failure`): after 10 in a row the server refuses the card's
face checks until a PIN check is answered."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from card_reader.core.errors import (
    CardError,
    CardRemoved,
    NoCard,
    NoReader,
    PinBlocked,
    PinError,
    PinNotIssued,
    ReaderUnavailable,
    SecurityStatusNotSatisfied,
)
from card_reader.core.jpki import TOKEN_ANDROID
from clinic_client.api import (
    QualificationClient,
    ServerRefused,
    ServerUnreachable,
    challenge_digest,
)
from qualification_server.contract.codes import Code
from qualification_server.contract.lockouts import FaceFailureAnswer
from qualification_server.contract.presence import Method, device_message, face_failure_message
from qualification_server.contract.schemas import Consents, EligibilityAnswer, RegistrationResult

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from card_reader.core.jpki import JpkiSession
    from clinic_client.reader import FrontDeskReader

Mode = Literal["pin", "face", "visual"]


class FailureKind(StrEnum):
    NO_READER = "no-reader"
    NO_CARD = "no-card"
    CARD_REMOVED = "card-removed"
    WRONG_PIN = "wrong-pin"
    PIN_BLOCKED = "pin-blocked"
    PIN_NOT_ISSUED = "pin-not-issued"  # a 顔認証マイナンバーカード: face or visual only
    SMARTPHONE_PIN_ONLY = "smartphone-pin-only"  # a phone's certificate is read after the PIN
    FACE_LOCKED = "face-locked"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_REVOKED = "certificate-revoked"
    CERTIFICATE_INVALID = "certificate-invalid"
    NOT_REGISTERED = "not-registered"
    SERVER_UNREACHABLE = "server-unreachable"
    REFUSED = "refused"
    BAD_INPUT = "bad-input"
    CARD_ERROR = "card-error"


@dataclass
class Failure(Exception):  # not frozen: raising sets __traceback__
    """A check that did not end with an answer: what happened and what to do."""

    kind: FailureKind
    message_ja: str
    message_en: str
    code: str | None = None
    tries_left: int | None = None
    # The server's request id of a refusal: the desk's IT log line names it, so a complaint
    # at the desk can be found in the server's log.
    server_request_id: str | None = None


_SERVER_KINDS: dict[str, FailureKind] = {
    Code.CERTIFICATE_EXPIRED: FailureKind.CERTIFICATE_EXPIRED,
    Code.CERTIFICATE_REVOKED: FailureKind.CERTIFICATE_REVOKED,
    Code.MALFORMED_CERTIFICATE: FailureKind.CERTIFICATE_INVALID,
    Code.UNTRUSTED_CERTIFICATE: FailureKind.CERTIFICATE_INVALID,
    Code.CERTIFICATE_NOT_YET_VALID: FailureKind.CERTIFICATE_INVALID,
    Code.CARD_NOT_REGISTERED: FailureKind.NOT_REGISTERED,
    Code.FACE_LOCKED: FailureKind.FACE_LOCKED,
}
_EN = {
    FailureKind.CERTIFICATE_EXPIRED: "The card's certificate has expired. The holder renews it "
    "at the municipal office; check eligibility with the insured-card number meanwhile.",
    FailureKind.CERTIFICATE_REVOKED: "The card's certificate is revoked (lost card?). Check "
    "eligibility with the insured-card number.",
    FailureKind.CERTIFICATE_INVALID: "This card cannot be verified. Check eligibility with the "
    "insured-card number.",
    FailureKind.NOT_REGISTERED: "This card is not registered for use as a health insurance "
    "card. It can be registered here, at the reader, with the PIN.",
    FailureKind.FACE_LOCKED: "Face recognition is locked for this card (10 failed matches). "
    "Confirm with the PIN (which unlocks it) or a visual check.",
}


def failure_of(exc: Exception) -> Failure:
    """Translate an exception from the card, the reader or the server for the screen."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, PinError):
        return Failure(
            FailureKind.WRONG_PIN,
            f"暗証番号が違います。残り{exc.tries_left}回です。",
            f"Wrong PIN: {exc.tries_left} tries left.",
            tries_left=exc.tries_left,
        )
    if isinstance(exc, PinNotIssued):
        return Failure(
            FailureKind.PIN_NOT_ISSUED,
            "このカードは暗証番号のない顔認証マイナンバーカードです。顔認証または目視で確認してください。",
            "This is a face-only My Number card, issued without a PIN. Use face recognition "
            "or a visual check.",
            tries_left=0,
        )
    if isinstance(exc, PinBlocked):
        return Failure(
            FailureKind.PIN_BLOCKED,
            "暗証番号がロックされています。市区町村の窓口で解除が必要です。顔認証または目視で確認してください。",
            "The PIN is blocked; the municipal office resets it. Use face or visual check.",
            tries_left=0,
        )
    if isinstance(exc, CardRemoved):
        return Failure(
            FailureKind.CARD_REMOVED,
            "確認中にカードが取り出されました。カードを置き直して、もう一度お試しください。",
            "The card was removed during the check. Put it back and try again.",
        )
    if isinstance(exc, NoCard):
        return Failure(
            FailureKind.NO_CARD,
            "カードが置かれていません。カードをリーダーに置いてください。",
            "No card in the reader. Put the card on the reader.",
        )
    if isinstance(exc, (NoReader, ReaderUnavailable)):
        return Failure(
            FailureKind.NO_READER,
            "カードリーダーが見つかりません。接続を確認してください。",
            "No card reader found. Check that it is connected.",
        )
    if isinstance(exc, ServerUnreachable):
        return Failure(
            FailureKind.SERVER_UNREACHABLE,
            "資格確認サーバーに接続できません。しばらくしてから再度お試しください。健康保険証があれば番号でも確認できます。",
            "The qualification server cannot be reached. Try again shortly.",
        )
    if isinstance(exc, ServerRefused):
        kind = _SERVER_KINDS.get(exc.code, FailureKind.REFUSED)
        return Failure(
            kind,
            exc.message,
            _EN.get(kind, exc.message_it),
            code=exc.code,
            server_request_id=exc.request_id,
        )
    if isinstance(exc, CardError):
        return Failure(
            FailureKind.CARD_ERROR,
            "カードを読み取れませんでした。カードを置き直して、もう一度お試しください。",
            f"The card could not be read ({exc}). Put it back and try again.",
        )
    if isinstance(exc, ValueError):
        return Failure(FailureKind.BAD_INPUT, "入力内容を確認してください。", str(exc))
    raise exc


def check_card(
    reader: FrontDeskReader,
    client: QualificationClient,
    *,
    mode: Mode,
    pin: str | None,
    consents: Consents,
    device: tuple[str, Ed25519PrivateKey] | None = None,
    passcode: str | None = None,
) -> tuple[EligibilityAnswer, bytes]:
    """Check the card in the reader; return the answer and the card's certificate.

    PIN mode: the card signs the server's challenge after VERIFY PIN. Face or visual mode:
    the clinic's registered device signs the challenge with the certificate's hash and the
    method (the face match or the staff's look happened at the reader). A visual check
    carries `passcode`, or one asked for here when none is given.
    """
    if mode == "visual" and passcode is None and device is not None:
        passcode = client.visual_passcode().MessageBody.VisualConfirmationPasscode
    with reader.jpki() as session:
        if mode == "pin":
            if pin is None:
                raise ValueError("PIN mode needs the PIN")
            challenge = client.challenge("check")
            # A card's certificate is read first, a smartphone's after the PIN.
            certificate, signature = session.prove_presence(pin, challenge_digest(challenge))
            proof = {"method": "pin", "signature": base64.b64encode(signature).decode()}
        else:
            certificate = _certificate_without_pin(session)
            challenge = client.challenge("check")
    if mode != "pin":
        if device is None:
            raise ValueError("face and visual checks need this terminal's registered device key")
        device_id, key = device
        message = device_message(challenge, certificate, Method(mode))
        proof = {
            "method": mode,
            "device_id": device_id,
            "signature": base64.b64encode(key.sign(message)).decode(),
        }
        if mode == "visual" and passcode is not None:
            proof["passcode"] = passcode
    answer = client.check_card(
        challenge=challenge, certificate=certificate, proof=proof, consents=consents
    )
    return answer, certificate


def report_face_failure(
    reader: FrontDeskReader,
    client: QualificationClient,
    *,
    device: tuple[str, Ed25519PrivateKey],
) -> FaceFailureAnswer:
    """Report that the face at this terminal's reader did not match the card in it: the
    device signs the failure over a fresh challenge and the card's certificate."""
    with reader.jpki() as session:
        certificate = _certificate_without_pin(session)
    challenge = client.challenge("check")
    device_id, key = device
    return client.report_face_failure(
        challenge=challenge,
        certificate=certificate,
        device_id=device_id,
        signature=key.sign(face_failure_message(challenge, certificate)),
    )


def register_card(
    reader: FrontDeskReader, client: QualificationClient, *, pin: str
) -> RegistrationResult:
    """初回登録 at this reader: the person consented at the desk and enters the PIN."""
    with reader.jpki() as session:
        challenge = client.challenge("registration")
        certificate, signature = session.prove_presence(pin, challenge_digest(challenge))
    return client.register(challenge=challenge, certificate=certificate, signature=signature)


def _certificate_without_pin(session: JpkiSession) -> bytes:
    """The auth certificate for a face or visual check: a smartphone shows it only after
    its PIN, so a phone is checked with the PIN (docs/card.md, the kinds of card)."""
    try:
        return session.read_auth_certificate()
    except SecurityStatusNotSatisfied:
        raise Failure(
            FailureKind.SMARTPHONE_PIN_ONLY,
            "スマートフォン（スマホ用電子証明書）は暗証番号で確認します。暗証番号で確認してください。",
            "A smartphone is checked with its PIN: confirm with the PIN.",
        ) from None


@dataclass(frozen=True, slots=True)
class CardOnReader:
    """What the desk offers for the card in the reader: its PIN's tries left (0 for a
    blocked PIN and for a face card, which has none) and whether it is a smartphone."""

    tries_left: int
    credential: Literal["card", "smartphone"]


def card_on_reader(reader: FrontDeskReader) -> CardOnReader:
    """The card in the reader, asked without spending a try."""
    with reader.jpki() as session:
        phone = session.token_name() == TOKEN_ANDROID
        return CardOnReader(session.auth_pin_tries_left(), "smartphone" if phone else "card")


def pin_tries_left(reader: FrontDeskReader) -> int:
    """Tries left for the card's PIN (spends none)."""
    with reader.jpki() as session:
        return session.auth_pin_tries_left()


@dataclass(frozen=True, slots=True)
class PlacedCard:
    """The card on the patient-facing reader and what it can be checked with: a face card
    (顔認証マイナンバーカード) has no PIN, a smartphone shows its certificate only after its
    PIN, a blocked PIN (`tries_left` 0) is never offered."""

    tries_left: int
    credential: Literal["card", "face_card", "smartphone"]

    @property
    def pin_offered(self) -> bool:
        return self.credential != "face_card" and self.tries_left > 0

    @property
    def face_offered(self) -> bool:
        return self.credential != "smartphone"


def card_placed(reader: FrontDeskReader) -> PlacedCard:
    """The card on the reader, asked without spending a try. To the question a face card
    and a blocked PIN both say 0 tries; a VERIFY then tells them apart and spends nothing
    (none is left): a face card refuses it as a method it does not offer (`PinNotIssued`), a
    blocked PIN as blocked (docs/card.md)."""
    with reader.jpki() as session:
        if session.token_name() == TOKEN_ANDROID:
            return PlacedCard(session.auth_pin_tries_left(), "smartphone")
        try:
            tries = session.auth_pin_tries_left()
            if tries == 0:
                session.verify_auth_pin("0000")
        except PinNotIssued:
            return PlacedCard(0, "face_card")
        except (PinBlocked, PinError):
            return PlacedCard(0, "card")
        return PlacedCard(tries, "card")


def verify_pin(reader: FrontDeskReader, pin: str) -> None:
    """VERIFY the PIN typed on the reader's keypad before the consent screens, so a wrong one
    is said at once with the tries left (the check itself verifies it again: a right PIN
    spends no try). Raises `PinError`, `PinBlocked`, `PinNotIssued`, or a `CardError`."""
    with reader.jpki() as session:
        session.verify_auth_pin(pin)
