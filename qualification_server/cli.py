"""`qualification-server`: run the server and administer clinics."""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from onshi_kernel.http_limits import HTTP_PROTOCOL
from onshi_kernel.logs import configure_logging
from qualification_server.access_log import log as access_log
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings
from qualification_server.witness.cli import app as witness_app

app = typer.Typer(
    help="The qualification server (オンライン資格確認): card checks and eligibility answers.",
    no_args_is_help=True,
    add_completion=False,
)
clinic_app = typer.Typer(
    help="Register clinics and their reader devices; rotate tokens, disable clinics, remove "
    "readers (a running server may trust what it saw valid for up to 30 s more).",
    no_args_is_help=True,
)
app.add_typer(clinic_app, name="clinic")
# The access log's witness: a separate process with its own key and storage (docs/access-log.md).
app.add_typer(witness_app, name="witness")


def _fail(message: str) -> NoReturn:
    typer.echo(f"qualification-server: {message}", err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"settings: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


def _sessions() -> sessionmaker[Session]:
    """The server's database, its schema brought up to date first (as `serve` does), so that
    an administration command run before anything else (`clinic add` on a fresh clone) finds
    its tables instead of dying on "no such table"."""
    engine = make_engine(_settings().database_url)
    migrate(engine)
    return make_session_factory(engine)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the server's tables."""
    settings = _settings()
    migrate(make_engine(settings.database_url))
    typer.echo("schema up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8300,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    no_migrate: Annotated[bool, typer.Option(help="Do not migrate at start")] = False,
) -> None:
    """Serve the HTTP API (migrates the schema first unless --no-migrate)."""
    settings = _settings()
    if not no_migrate:
        migrate(make_engine(settings.database_url))
    uvicorn.run(
        "qualification_server.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=os.environ.get("ONSHI_LOG_LEVEL", "warning").lower(),
        access_log=False,
        server_header=False,  # do not tell the world which server software answers
        http=HTTP_PROTOCOL,  # bounded header size and read deadlines; an import path, for workers
    )


@clinic_app.command("add")
def clinic_add(
    code: Annotated[str, typer.Argument(help="医療機関コード (10 digits)")],
    name: Annotated[str, typer.Argument(help="The clinic's name")],
) -> None:
    """Register a clinic and print its credential (shown once)."""
    from qualification_server.clinics.service import register_clinic

    try:
        with transaction(_sessions()) as session:
            token = register_clinic(
                session=session, code=code, name=name, now=dt.datetime.now(dt.UTC)
            )
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(token)


@clinic_app.command("device")
def clinic_device(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
    device_id: Annotated[str, typer.Argument(help="A name for the reader device")],
    public_key_hex: Annotated[str, typer.Argument(help="Its Ed25519 public key, 32 bytes hex")],
) -> None:
    """Register a face-recognition reader of a clinic."""
    from qualification_server.clinics.service import register_device

    sessions = _sessions()
    try:
        key = bytes.fromhex(public_key_hex)
        with transaction(sessions) as session:
            register_device(
                session=session, clinic_code=code, device_id=device_id, public_key=key,
                now=dt.datetime.now(dt.UTC),
            )  # fmt: skip
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"device {device_id} registered for clinic {code}")


@clinic_app.command("device-key")
def clinic_device_key(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
    device_id: Annotated[str, typer.Argument(help="A name for the reader device")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write its private key (PEM, mode 0600)")
    ],
) -> None:
    """Make a face-reader device key (Ed25519) and register its public key for the clinic.

    The private key goes to --out, readable by its owner only, for the terminal that proves
    face and visual checks (`ONSHI_CLINIC_DEVICE_KEY_FILE`, `ONSHI_CLINIC_DEVICE_ID`); an
    existing file is never overwritten. The key is written before the registration, so a
    registered key always has its private half on disk."""
    from qualification_server.clinics.service import register_device

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sessions = _sessions()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"{out} exists: remove it or choose another --out")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror}")
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    try:
        with transaction(sessions) as session:
            register_device(
                session=session, clinic_code=code, device_id=device_id, public_key=public,
                now=dt.datetime.now(dt.UTC),
            )  # fmt: skip
    except ValueError as exc:
        out.unlink()  # a key nobody registered is of no use
        _fail(str(exc))
    typer.echo(f"device {device_id} registered for clinic {code}; its private key: {out}")
    typer.echo(f"  export ONSHI_CLINIC_DEVICE_KEY_FILE={out} ONSHI_CLINIC_DEVICE_ID={device_id}")


@clinic_app.command("device-remove")
def clinic_device_remove(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
    device_id: Annotated[str, typer.Argument(help="The reader device's name")],
) -> None:
    """Remove a reader device (lost or stolen): the checks it signs are refused at once."""
    from qualification_server.clinics.service import remove_device

    try:
        with transaction(_sessions()) as session:
            remove_device(session=session, clinic_code=code, device_id=device_id)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"device {device_id} removed from clinic {code}")


@clinic_app.command("rotate-token")
def clinic_rotate_token(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
) -> None:
    """Give a clinic a new credential and print it (shown once); the old one is refused.

    A running server that accepted the old token in the last 30 s keeps trusting it for the
    rest of those 30 s."""
    from qualification_server.clinics.service import rotate_clinic_token

    try:
        with transaction(_sessions()) as session:
            token = rotate_clinic_token(session=session, code=code)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"clinic {code}: old token refused (by a running server within 30 s)", err=True)
    typer.echo(token)


@clinic_app.command("disable")
def clinic_disable(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
) -> None:
    """Refuse a clinic's token as if the clinic were unknown, until `clinic enable`.

    A running server that accepted the token in the last 30 s keeps trusting it for the rest
    of those 30 s."""
    from qualification_server.clinics.service import disable_clinic

    try:
        with transaction(_sessions()) as session:
            changed = disable_clinic(session=session, code=code, now=dt.datetime.now(dt.UTC))
    except ValueError as exc:
        _fail(str(exc))
    if changed:
        typer.echo(f"clinic {code} disabled (refused by a running server within 30 s)")
    else:
        typer.echo(f"clinic {code} was already disabled")


@clinic_app.command("enable")
def clinic_enable(
    code: Annotated[str, typer.Argument(help="The clinic's 医療機関コード")],
) -> None:
    """Accept a disabled clinic's token again."""
    from qualification_server.clinics.service import enable_clinic

    try:
        with transaction(_sessions()) as session:
            changed = enable_clinic(session=session, code=code)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"clinic {code} enabled" if changed else f"clinic {code} was not disabled")


@clinic_app.command("list")
def clinic_list() -> None:
    """List the registered clinics: code, name, registered, status, devices (no tokens)."""
    from qualification_server.clinics.service import list_clinics

    sessions = _sessions()
    with sessions() as session:
        clinics = list_clinics(session=session)
    typer.echo("code\tname\tregistered\tstatus\tdevices")
    for clinic in clinics:
        status = "enabled"
        if clinic.disabled_at is not None:
            status = f"disabled since {clinic.disabled_at.date().isoformat()}"
        registered = clinic.registered_at.date().isoformat()
        typer.echo(f"{clinic.code}\t{clinic.name}\t{registered}\t{status}\t{clinic.devices}")


@app.command("verify-log")
def verify_log(
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A witness's URL to ask for its latest checkpoint of this log (repeatable; "
            "default ONSHI_LOG_WITNESS_URLS). With none, the witnessed checkpoint stored in "
            "the database is used, which is weaker: whoever rewrites the database can "
            "rewrite that copy too.",
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="A witness's cosignature verifier key (repeatable; default "
            "ONSHI_LOG_WITNESS_KEYS): a witnessed checkpoint then counts only with a valid "
            "cosignature by one of them.",
        ),
    ] = None,
) -> None:
    """Recompute the access log's Merkle tree from the records and hold it against the
    stored tree, its head, the latest signed checkpoint and each witness's latest checkpoint;
    exit 1 naming what broke (an edited, removed or wiped record)."""
    from onshi_kernel.transparency.checkpoint import WitnessVerifier
    from onshi_kernel.transparency.note import NoteError
    from qualification_server.access_log.checkpoints import audit, connect_witness, load_signer

    settings = _settings()
    sessions = _sessions()
    try:
        verifier = load_signer(settings).verifier()
    except ValueError as exc:
        _fail(str(exc))
    try:
        keys = [WitnessVerifier.from_key(k) for k in witness_key or settings.log_witness_keys]
    except NoteError as exc:
        _fail(f"a witness key: {exc.reason}")
    with sessions() as session, session.begin():
        access_log.seal(session)
    urls = witness if witness else list(settings.log_witness_urls)
    with sessions() as session:
        found = audit(
            session,
            verifier,
            settings.log_origin,
            [(url, connect_witness(url)) for url in urls],
            keys,
        )
    typer.echo(f"tree size {found.size} root {base64.b64encode(found.root).decode()}")
    for seen in found.witnessed:
        at = "an unknown time" if seen.at is None else seen.at.isoformat()
        by = ", ".join(seen.by) or "no witness"
        typer.echo(f"witnessed size {seen.size} by {by} at {at} (from {seen.source})")
    if not found.witnessed:
        typer.echo("no witnessed checkpoint to hold the log against", err=True)
    elif not urls:
        typer.echo(
            "checked against the database's copy of the witnessed checkpoint only: "
            "give --witness to ask the witness itself",
            err=True,
        )
    if found.problems:
        _fail("the access log is broken: " + "; ".join(found.problems))
    typer.echo("access log intact")


def main() -> None:
    configure_logging()
    app()
