"""What the portal does with the person's card, on their own PC: PIN-sign a portal
challenge, and read the My Number from the 券面事項入力補助AP behind the same PIN.

The PIN is used here, card-side, and forgotten: it never goes to the server and is never
logged. The My Number never leaves this module but as its last 4 digits, for the screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from card_reader.core.connection import CardConnection
from card_reader.core.errors import CardError, PinBlocked, PinError
from card_reader.core.jpki import JpkiSession
from card_reader.core.kenhojo import KenhojoSession
from clinic_client.api import QualificationClient, challenge_digest
from clinic_client.reader import FrontDeskReader
from qualification_server.contract.schemas import AccessHistory, RegistrationResult


class PortalReader(FrontDeskReader):
    """The person's reader: the desk's, plus the card's connection itself, so that the
    JPKI AP and the 券面事項入力補助AP are both used in one session."""

    @contextlib.contextmanager
    def connection(self, timeout_s: float = 1.0) -> Iterator[CardConnection]:
        with self._lock:
            reader = self._pcsc.wait_for_card(self._wanted, timeout_s)
            connection = self._pcsc.connect(reader)
        try:
            yield connection
        finally:
            with contextlib.suppress(CardError):
                connection.close()


@dataclass(frozen=True, slots=True)
class MyNumberTail:
    """The last 4 digits of the My Number, or why they are not shown."""

    last4: str | None
    note: str | None = None  # Japanese, for the screen


@dataclass(frozen=True, slots=True)
class SignedIn:
    history: AccessHistory
    my_number: MyNumberTail


def _sign(session: JpkiSession, pin: str, challenge: bytes) -> tuple[bytes, bytes]:
    return session.prove_presence(pin, challenge_digest(challenge))


def _my_number_tail(connection: CardConnection, pin: str) -> MyNumberTail:
    """Read the My Number behind the 券面事項入力補助AP's PIN (the same 4 digits on most
    cards), keep its last 4. Its own PIN counter: a different PIN is said, not retried."""
    try:
        kenhojo = KenhojoSession(connection)
        kenhojo.verify_pin(pin)
        number = kenhojo.read_my_number()
    except PinError as exc:
        return MyNumberTail(
            None,
            "券面事項入力補助用暗証番号が利用者証明用と異なるため表示できません"
            f"（残り{exc.tries_left}回）。",
        )
    except PinBlocked:
        return MyNumberTail(None, "券面事項入力補助用暗証番号がロック中のため表示できません。")
    last4 = number[-4:]
    del number
    return MyNumberTail(last4)


def sign_in(reader: PortalReader, client: QualificationClient, *, pin: str) -> SignedIn:
    """マイナンバーカードでログイン: the card signs a portal challenge after VERIFY PIN, the
    server answers the registration and the access history; the My Number's last 4 digits
    are read from the card, here."""
    challenge = client.portal_challenge("portal")
    with reader.connection() as connection:
        certificate, signature = _sign(JpkiSession(connection), pin, challenge)
        tail = _my_number_tail(connection, pin)
    history = client.portal_history(
        challenge=challenge, certificate=certificate, signature=signature
    )
    return SignedIn(history, tail)


def register(reader: PortalReader, client: QualificationClient, *, pin: str) -> RegistrationResult:
    """利用登録 (the person ticked the consent on the page)."""
    challenge = client.portal_challenge("registration")
    with reader.connection() as connection:
        certificate, signature = _sign(JpkiSession(connection), pin, challenge)
    return client.portal_register(challenge=challenge, certificate=certificate, signature=signature)


def unregister(reader: PortalReader, client: QualificationClient, *, pin: str) -> bool:
    """利用登録の解除, confirmed with the PIN again."""
    challenge = client.portal_challenge("portal")
    with reader.connection() as connection:
        certificate, signature = _sign(JpkiSession(connection), pin, challenge)
    return client.portal_unregister(
        challenge=challenge, certificate=certificate, signature=signature
    )


def pin_tries_left(reader: PortalReader) -> int:
    with reader.connection() as connection:
        return JpkiSession(connection).auth_pin_tries_left()
