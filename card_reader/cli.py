"""`card-reader`: read, use, emulate and issue My Number cards from the command line."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from card_reader.core.errors import (
    ApplicationNotFound,
    CardError,
    CardRemoved,
    NoCard,
    NoReader,
    PinBlocked,
    PinError,
    ReaderUnavailable,
)
from card_reader.core.jpki import JpkiFile, JpkiSession
from card_reader.core.kenhojo import KenhojoSession
from card_reader.core.kenmen import KenmenSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import VPCD_READER_PREFIX, VpcdCardSocket, vpcd_reader_name
from card_reader.issuance.issuer import Issuer, IssuerError, write_register
from card_reader.issuance.residents import Resident, load_residents
from card_reader.settings import IssuerSettings
from card_reader.transports.pcsc import PcscConnection, PcscReaders
from onshi_kernel.logs import configure_logging

app = typer.Typer(
    help="Read, use, emulate and issue My Number cards (JPKI) through PC/SC.",
    no_args_is_help=True,
    add_completion=False,
)

ReaderOpt = Annotated[
    str | None, typer.Option("--reader", "-r", help="Reader name (default: the first with a card)")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for a card")]
IssuerDirOpt = Annotated[
    Path, typer.Option("--issuer", help="Issuer directory (CAs, CRL, directory, cards)")
]

# Exit codes, stable for scripts.
EXIT_FAILURE, EXIT_NO_READER, EXIT_NO_CARD, EXIT_WRONG_PIN, EXIT_BLOCKED = 1, 3, 4, 5, 6


def _fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    typer.echo(f"card-reader: {message}", err=True)
    raise typer.Exit(code)


def _card_error(exc: CardError) -> NoReturn:
    if isinstance(exc, ReaderUnavailable):
        _fail(f"{exc}. Is pcscd running?", EXIT_NO_READER)
    if isinstance(exc, NoReader):
        _fail(f"{exc}", EXIT_NO_READER)
    if isinstance(exc, NoCard):
        _fail(f"{exc}: insert the card and try again", EXIT_NO_CARD)
    if isinstance(exc, CardRemoved):
        _fail("the card was removed during the operation: insert it again", EXIT_NO_CARD)
    if isinstance(exc, PinBlocked):
        _fail(f"{exc}", EXIT_BLOCKED)
    if isinstance(exc, PinError):
        _fail(f"{exc}", EXIT_WRONG_PIN)
    _fail(f"card error: {exc}")


def _connect(reader: str | None, timeout: float) -> PcscConnection:
    readers = PcscReaders()
    return readers.connect(readers.wait_for_card(reader, timeout))


@app.command()
def readers() -> None:
    """List the PC/SC readers and whether each holds a card."""
    try:
        pcsc = PcscReaders()
        names = pcsc.readers()
        if not names:
            _fail("no card reader is connected", EXIT_NO_READER)
        for name in names:
            typer.echo(f"{name}\t{'card' if pcsc.card_present(name) else 'empty'}")
    except CardError as exc:
        _card_error(exc)


@app.command()
def status(reader: ReaderOpt = None, timeout: TimeoutOpt = 10.0) -> None:
    """Show the card's auth certificate and every PIN's tries left (spends none)."""
    try:
        connection = _connect(reader, timeout)
        try:
            session = JpkiSession(connection)
            cert = x509.load_der_x509_certificate(session.read_auth_certificate())
            typer.echo(f"reader:          {connection.reader}")
            typer.echo(f"subject:         {cert.subject.rfc4514_string()}")
            typer.echo(f"issuer:          {cert.issuer.rfc4514_string()}")
            typer.echo(f"serial:          {cert.serial_number}")
            typer.echo(
                f"valid:           {cert.not_valid_before_utc} .. {cert.not_valid_after_utc}"
            )
            typer.echo(f"token:           {session.token_name()}")
            typer.echo(f"auth PIN:        {session.auth_pin_tries_left()} tries left")
            typer.echo(f"sign password:   {session.sign_password_tries_left()} tries left")
            for name, application in (("入力補助AP", KenhojoSession), ("券面AP", KenmenSession)):
                try:
                    statuses = application(connection).pin_statuses()
                except ApplicationNotFound:
                    typer.echo(f"{name}:  not on this card")
                    continue
                for fid, tries in statuses.items():
                    typer.echo(f"{name} {fid}: {tries} tries left")
        finally:
            connection.close()
    except CardError as exc:
        _card_error(exc)


@app.command("read-cert")
def read_cert(
    reader: ReaderOpt = None,
    timeout: TimeoutOpt = 10.0,
    ca: Annotated[bool, typer.Option("--ca", help="The issuing CA's certificate instead")] = False,
) -> None:
    """Print the auth certificate (or its CA's) as PEM. Needs no PIN."""
    try:
        connection = _connect(reader, timeout)
        try:
            session = JpkiSession(connection)
            der = session.read_auth_ca_certificate() if ca else session.read_auth_certificate()
        finally:
            connection.close()
    except CardError as exc:
        _card_error(exc)
    typer.echo(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode(), nl=False)


@app.command()
def sign(
    reader: ReaderOpt = None,
    timeout: TimeoutOpt = 10.0,
    pin: Annotated[
        str | None, typer.Option(help="The 4-digit auth PIN (asked for if absent)")
    ] = None,
    challenge: Annotated[
        str | None, typer.Option(help="Hex challenge to sign (default: 32 random bytes)")
    ] = None,
) -> None:
    """Sign SHA-256(challenge) with the auth key after VERIFY PIN, and check the signature."""
    try:
        data = bytes.fromhex(challenge) if challenge is not None else secrets.token_bytes(32)
    except ValueError:
        _fail("--challenge must be hex")
    if pin is None:
        pin = typer.prompt("PIN (4 digits)", hide_input=True)
    try:
        connection = _connect(reader, timeout)
        try:
            session = JpkiSession(connection)
            cert = x509.load_der_x509_certificate(session.read_auth_certificate())
            signature = session.authenticate(pin, hashlib.sha256(data).digest())
        finally:
            connection.close()
    except ValueError as exc:
        _fail(str(exc))
    except CardError as exc:
        _card_error(exc)
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        _fail("the auth certificate does not hold an RSA key")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        _fail("the card's signature does not verify against its certificate")
    typer.echo(f"challenge:  {data.hex()}")
    typer.echo(f"signature:  {base64.b64encode(signature).decode()}")
    typer.echo(f"verified against certificate serial {cert.serial_number}")


def _free_vpcd_slot(pcsc: PcscReaders) -> int:
    for name in pcsc.readers():
        if name.startswith(VPCD_READER_PREFIX) and not pcsc.card_present(name):
            return int(name.removeprefix(VPCD_READER_PREFIX))
    _fail("no free virtual reader: is vsmartcard-vpcd installed and each slot empty?")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


@app.command()
def emulate(
    card_image: Annotated[Path, typer.Argument(help="Card image file (kept up to date)")],
    slot: Annotated[
        int | None,
        typer.Option(help="vpcd slot (default: the first free one)"),
    ] = None,
) -> None:
    """Insert an emulated card into the running pcscd's virtual reader until Ctrl-C.

    Retry counters and PIN changes are written back to CARD_IMAGE, so a blocked card stays
    blocked. Starts nothing: pcscd with the vpcd driver must already run.
    """
    try:
        image = load_image(card_image)
        card = EmulatedCard(image, on_change=lambda new: save_image(card_image, new))
    except (OSError, ValueError) as exc:
        _fail(f"cannot load {card_image}: {exc}")
    try:
        pcsc = PcscReaders()
        chosen = slot if slot is not None else _free_vpcd_slot(pcsc)
        pcsc.close()
    except CardError as exc:
        _card_error(exc)
    bridge = VpcdCardSocket(card, slot=chosen)
    try:
        bridge.connect()
    except OSError as exc:
        _fail(f"pcscd's virtual reader slot {chosen} does not answer: {exc}", EXIT_NO_READER)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    typer.echo(f"card {image.label} inserted into {vpcd_reader_name(chosen)}; Ctrl-C removes it")
    try:
        bridge.serve_forever()
        typer.echo("pcscd closed the virtual reader: card removed", err=True)
    except KeyboardInterrupt:
        typer.echo(f"card {image.label} removed")
    finally:
        bridge.close()


def _issuer(root: Path) -> Issuer:
    try:
        settings = IssuerSettings()
    except ValidationError as exc:
        _fail(f"settings: {exc.errors()[0]['msg']}")
    return Issuer.open(root, pseudonym_key=settings.pseudonym_key_bytes)


def _parse_time(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be an ISO date or time, e.g. 2024-01-31 or 2024-01-31T09:00+09:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _load_people(residents: Path) -> list[Resident]:
    try:
        return load_residents(residents)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first["loc"])
        _fail(f"{residents}: {location}: {first['msg']}")
    except (OSError, ValueError) as exc:
        _fail(f"{residents}: {exc}")


@app.command()
def issue(
    residents: Annotated[Path, typer.Option(help="Residents JSON (see fixtures/README.md)")],
    out: Annotated[Path, typer.Option(help="Issuer directory to create or extend")],
    pin: Annotated[str, typer.Option(help="PIN for every card (4 digits)")] = "1234",
    sign_password: Annotated[
        str | None, typer.Option(help="Signing password (default: random per card)")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Issue only for these labels (repeatable)")
    ] = None,
    not_before: Annotated[str | None, typer.Option(help="Override the start of validity")] = None,
    not_after: Annotated[str | None, typer.Option(help="Override the end of validity")] = None,
    force: Annotated[bool, typer.Option(help="Replace cards already issued")] = False,
) -> None:
    """Create test CAs (once) and personalise a card image for each resident."""
    people = _load_people(residents)
    if only:
        unknown = set(only) - {p.label for p in people}
        if unknown:
            _fail(f"no resident labelled {', '.join(sorted(unknown))} in {residents}")
        people = [p for p in people if p.label in only]
    start, end = _parse_time(not_before, "--not-before"), _parse_time(not_after, "--not-after")
    issuer = _issuer(out)
    for person in people:
        try:
            path, entry = issuer.issue_card(
                person,
                pin=pin,
                sign_password=sign_password,
                not_before=start,
                not_after=end,
                overwrite=force,
            )
            issued = [(path, entry)]
            if person.smartphone:
                issued.append(
                    issuer.issue_smartphone(
                        person,
                        pin=pin,
                        sign_password=sign_password,
                        not_before=start,
                        not_after=end,
                        overwrite=force,
                    )
                )
        except (IssuerError, ValueError) as exc:
            _fail(str(exc))
        for path, entry in issued:
            typer.echo(f"issued {path} serial {entry.serial} valid until {entry.not_after}")
    typer.echo(f"CA certificates: {', '.join(map(str, issuer.trusted_ca_paths()))}")
    typer.echo(f"  smartphones':  {issuer.ca_certificate_path(issuer.phone_ca.kind)}")
    typer.echo(f"CRLs:            {', '.join(map(str, issuer.crl_paths()))}")
    typer.echo(f"directory:       {issuer.directory_path}")
    typer.echo(f"register:        {issuer.register_path}")


@app.command()
def register(
    residents: Annotated[Path, typer.Option(help="Residents JSON (see fixtures/README.md)")],
    out: Annotated[Path, typer.Option(help="Issuer directory whose register.json to write")],
) -> None:
    """(Re)write only the issuer's register.json (the residents' four items, by person
    reference): the CAs, CRLs, directory and cards are neither read nor changed."""
    people = _load_people(residents)
    try:
        settings = IssuerSettings()
    except ValidationError as exc:
        _fail(f"settings: {exc.errors()[0]['msg']}")
    try:
        path = write_register(out, people, settings.pseudonym_key_bytes, keep_existing=False)
    except (IssuerError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"register:        {path} ({len(people)} residents)")


def _serial_of(card_image: Path) -> int:
    try:
        image = load_image(card_image)
    except (OSError, ValueError) as exc:
        _fail(f"cannot load {card_image}: {exc}")
    return x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT]).serial_number


@app.command()
def revoke(
    issuer_dir: IssuerDirOpt,
    card_image: Annotated[Path | None, typer.Argument(help="The card whose cert to revoke")] = None,
    serial: Annotated[int | None, typer.Option(help="Or the certificate serial")] = None,
    reason: Annotated[
        str, typer.Option(help="CRL reason: keyCompromise, cessationOfOperation, …")
    ] = "keyCompromise",
) -> None:
    """Put a card's auth certificate on the CRL (a lost card)."""
    if card_image is not None and serial is None:
        target = _serial_of(card_image)
    elif serial is not None and card_image is None:
        target = serial
    else:
        _fail("give either CARD_IMAGE or --serial")
    try:
        flag = x509.ReasonFlags(reason)
    except ValueError:
        _fail(f"unknown reason {reason!r}; one of {', '.join(r.value for r in x509.ReasonFlags)}")
    try:
        _issuer(issuer_dir).revoke(target, flag)
    except IssuerError as exc:
        _fail(str(exc))
    typer.echo(f"revoked serial {target} ({flag.value}); CRL updated")


@app.command()
def renew(issuer_dir: IssuerDirOpt, card_image: Annotated[Path, typer.Argument()]) -> None:
    """Issue a new auth key and certificate onto a card (new serial, same person)."""
    try:
        entry = _issuer(issuer_dir).renew(card_image)
    except (IssuerError, OSError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"renewed {card_image}: new serial {entry.serial}, valid until {entry.not_after}")


def main() -> None:
    """Console entry point."""
    configure_logging()
    app()
