"""`make demo`: the flow end to end on the embedded defaults.

Today it runs the card part: issue test cards, insert one into a virtual reader (a real pcscd
through vpcd when it is installed, otherwise straight into the emulator, and it says which),
read the auth certificate, check it against the test CA, PIN-sign a fresh challenge and
verify the signature.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.connection import CardConnection
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import VpcdCardSocket, vpcd_reader_name
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import load_residents
from card_reader.jpki import JpkiSession
from card_reader.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from card_reader.pcscd import Pcscd, PcscdError
from card_reader.transports.inprocess import InProcessConnection
from card_reader.transports.pcsc import PcscReaders

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "var" / "demo"
PIN = "1234"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


@contextlib.contextmanager
def card_in_reader(card: EmulatedCard) -> Iterator[CardConnection]:
    """The card in a virtual reader of a real pcscd, or in process if there is none."""
    try:
        daemon = Pcscd()
        daemon.start()
    except PcscdError as exc:
        step(f"no PC/SC stack ({exc}); using the emulated card in process")
        yield InProcessConnection(card)
        return
    readers = PcscReaders()
    socket = VpcdCardSocket(card, slot=0)
    try:
        socket.start()
        reader = readers.wait_for_card(vpcd_reader_name(0), timeout_s=10)
        step(f"card inserted into {reader!r} (pcscd + vsmartcard vpcd)")
        connection = readers.connect(reader)
        try:
            yield connection
        finally:
            connection.close()
    finally:
        socket.close()
        readers.close()
        ours = daemon.owned
        daemon.stop()
        step("card removed; our pcscd stopped" if ours else "card removed")


def main() -> None:
    started = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    step(f"issuing test cards into {WORK.relative_to(REPO)}/issuer (test CA, not J-LIS)")
    issuer = Issuer.open(WORK / "issuer", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    residents = load_residents(REPO / "fixtures" / "residents.json")
    for resident in residents:
        issuer.issue_card(resident, pin=PIN)
    print(f"    {len(residents)} cards, PIN {PIN}; CRL and issuer directory written")

    label = residents[0].label
    card_path = issuer.card_path(label)
    card = EmulatedCard(load_image(card_path), on_change=lambda i: save_image(card_path, i))
    with card_in_reader(card) as connection:
        session = JpkiSession(connection)
        cert = x509.load_der_x509_certificate(session.read_auth_certificate())
        step(f"read the auth certificate of card {label!r} (no PIN needed)")
        print(f"    subject {cert.subject.rfc4514_string()}")
        print(f"    issuer  {cert.issuer.rfc4514_string()}")
        print(f"    serial  {cert.serial_number}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
        cert.verify_directly_issued_by(issuer.auth_ca.certificate)
        if issuer.load_crl().get_revoked_certificate_by_serial_number(cert.serial_number):
            raise SystemExit("the certificate is revoked")
        if not cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) <= cert.not_valid_after_utc:
            raise SystemExit("the certificate is outside its validity period")
        step("certificate issued by the test CA, within its dates, not on the CRL")

        print(f"    PIN tries left: {session.auth_pin_tries_left()} (asked without spending one)")
        challenge = secrets.token_bytes(32)
        signature = session.authenticate(PIN, hashlib.sha256(challenge).digest())
        step(f"PIN verified and challenge {challenge.hex()[:16]}… signed on the card")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SystemExit("the auth certificate holds no RSA key")
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
        step("signature verifies against the certificate: the card is present")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
