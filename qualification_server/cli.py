"""`qualification-server`: run the server and administer clinics."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, NoReturn

import typer
import uvicorn
from pydantic import ValidationError

from card_reader.logs import configure_logging
from qualification_server import access_log
from qualification_server.db import make_engine, make_session_factory, migrate, transaction
from qualification_server.settings import Settings

app = typer.Typer(
    help="The qualification server (オンライン資格確認): card checks and eligibility answers.",
    no_args_is_help=True,
    add_completion=False,
)
clinic_app = typer.Typer(help="Register clinics and their reader devices.", no_args_is_help=True)
app.add_typer(clinic_app, name="clinic")


def _fail(message: str) -> NoReturn:
    typer.echo(f"qualification-server: {message}", err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"settings: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


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
    )


@clinic_app.command("add")
def clinic_add(
    code: Annotated[str, typer.Argument(help="医療機関コード (10 digits)")],
    name: Annotated[str, typer.Argument(help="The clinic's name")],
) -> None:
    """Register a clinic and print its credential (shown once)."""
    from qualification_server.clinics import register_clinic

    settings = _settings()
    sessions = make_session_factory(make_engine(settings.database_url))
    try:
        with transaction(sessions) as session:
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
    from qualification_server.clinics import register_device

    settings = _settings()
    sessions = make_session_factory(make_engine(settings.database_url))
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


@app.command("verify-log")
def verify_log() -> None:
    """Recompute the access log's hash chain; exit 1 if a record was edited or removed."""
    settings = _settings()
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session, session.begin():
        access_log.seal(session)
    with sessions() as session:
        broken = access_log.verify_chain(session)
    if broken is not None:
        _fail(f"the access log is broken at position {broken.pos}: {broken.reason}")
    typer.echo("access log intact")


def main() -> None:
    configure_logging()
    app()
