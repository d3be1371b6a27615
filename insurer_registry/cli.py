"""`insurer-registry`: run the registry and administer it.

    insurer-registry migrate                       bring the schema up to date, match pending
    insurer-registry serve [--host H --port P]     the HTTP API (migrates first)
    insurer-registry insurer add NUMBER NAME       register an insurer, print its credential
    insurer-registry insurer credential NUMBER     issue another credential [--revoke-others]
    insurer-registry insurer list
    insurer-registry network add LABEL             a credential for the qualification server
    insurer-registry import FILE [--partial]       bulk registration from CSV

The database is `DATABASE_URL` (default a SQLite file under var/); the card issuer's resident
register, which every registration is matched against, `ONSHI_RESIDENT_REGISTER_FILES`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from tqdm import tqdm

from insurer_registry.db import make_engine, make_session_factory, migrate, transaction
from insurer_registry.errors import RegistryError
from insurer_registry.importer.csv_source import ENCODINGS, ImportFileInvalid
from insurer_registry.importer.rows import Rejection
from insurer_registry.importer.service import HeldLine, ImportRejected, ImportReport, import_csv
from insurer_registry.insurers import service as insurers
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.linkage.service import match_pending
from insurer_registry.members.audit import Actor
from insurer_registry.settings import Settings
from onshi_kernel.four_items import FileResidentRegister, ResidentRegisterError
from onshi_kernel.logs import configure_logging
from onshi_kernel.numbers import InsurerNumber, InvalidInsurerNumber

# No local variables in crash reports: they could hold a My Number read from a file.
app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)
insurer_app = typer.Typer(help="Insurers and their credentials.", no_args_is_help=True)
network_app = typer.Typer(help="Credentials of the network lookup.", no_args_is_help=True)
app.add_typer(insurer_app, name="insurer")
app.add_typer(network_app, name="network")

EXIT_REJECTED = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _insurer_number(text: str) -> InsurerNumber:
    try:
        return InsurerNumber.parse(text)
    except InvalidInsurerNumber as error:
        raise _fail(str(error)) from None


def _register(settings: Settings) -> FileResidentRegister:
    """The card issuer's resident register of the settings."""
    try:
        return FileResidentRegister(settings.resident_register_files)
    except ResidentRegisterError as error:
        raise _fail(f"resident register: {error}") from None


def _migrate_and_match(settings: Settings, engine: Engine) -> int:
    """Bring the schema up to date, then match every linkage never matched (qualifications
    stored before matching existed) against the issuer's register. Returns how many."""
    migrate(engine)
    register = _register(settings)
    with transaction(make_session_factory(engine)) as session:
        return match_pending(session=session, register=register, actor=Actor.operator("migrate"))


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date, and match the linkages never matched against
    the card issuer's resident register (rows stored before matching existed)."""
    settings = Settings()
    matched = _migrate_and_match(settings, make_engine(settings.database_url))
    typer.echo("schema is up to date")
    typer.echo(f"matched {matched} pending linkage(s) against the issuer's register")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API (the schema is migrated first)."""
    import uvicorn

    from insurer_registry.api.app import create_app
    from onshi_kernel.http_limits import BoundedHttpToolsProtocol

    settings = Settings()
    engine = make_engine(settings.database_url)
    matched = _migrate_and_match(settings, engine)
    if matched:
        typer.echo(f"matched {matched} pending linkage(s) against the issuer's register", err=True)
    uvicorn.run(
        create_app(settings, engine=engine), host=host, port=port, http=BoundedHttpToolsProtocol
    )


@insurer_app.command("add")
def insurer_add(
    number: Annotated[str, typer.Argument(help="保険者番号: 8 digits, or 6 for 国保")],
    name: Annotated[str, typer.Argument(help="the insurer's name")],
) -> None:
    """Register an insurer and print its first credential (shown this once only)."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    parsed = _insurer_number(number)
    try:
        with transaction(make_session_factory(engine)) as session:
            info = insurers.add_insurer(session=session, number=parsed, name=name)
            issued = insurers.issue_credential(
                session=session, kind=CredentialKind.INSURER, label="initial", insurer=info
            )
    except RegistryError as error:
        raise _fail(str(error)) from None
    typer.echo(f"registered insurer {info.number} ({info.kind.value}): {info.name}", err=True)
    typer.echo("its credential, shown only now (send it as 'Authorization: Bearer …'):", err=True)
    typer.echo(issued.token)


@insurer_app.command("credential")
def insurer_credential(
    number: Annotated[str, typer.Argument(help="保険者番号")],
    revoke_others: Annotated[
        bool, typer.Option("--revoke-others", help="revoke the insurer's other credentials")
    ] = False,
) -> None:
    """Issue another credential to an insurer (shown this once only)."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    parsed = _insurer_number(number)
    try:
        with transaction(make_session_factory(engine)) as session:
            info = insurers.get_insurer(session=session, number=parsed)
            if revoke_others:
                revoked = insurers.revoke_credentials(session=session, insurer=info)
                typer.echo(f"revoked {revoked} credential(s)", err=True)
            issued = insurers.issue_credential(
                session=session, kind=CredentialKind.INSURER, label="cli", insurer=info
            )
    except RegistryError as error:
        raise _fail(str(error)) from None
    typer.echo(issued.token)


@insurer_app.command("list")
def insurer_list() -> None:
    """List registered insurers."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_session_factory(engine)() as session:
        for info in insurers.list_insurers(session=session):
            typer.echo(f"{info.number.wire}\t{info.kind.value}\t{info.name}")


@network_app.command("add")
def network_add(
    label: Annotated[str, typer.Argument(help="who uses it, e.g. qualification-server")],
) -> None:
    """Issue a network credential (for the qualification server's lookup), shown once."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    with transaction(make_session_factory(engine)) as session:
        issued = insurers.issue_credential(
            session=session, kind=CredentialKind.NETWORK, label=label
        )
    typer.echo(issued.token)


def _print_report(report: ImportReport) -> None:
    verdict = "imported" if report.committed else "NOTHING imported"
    typer.echo(
        f"{verdict}: {report.rows} rows ({report.encoding}), {report.inserted} inserted, "
        f"{report.updated} updated, {report.unchanged} unchanged, {report.rejected} rejected, "
        f"{report.held} held",
        err=True,
    )
    if report.held_truncated:
        typer.echo(
            f"(the first {len(report.held_lines)} held rows are listed; the insurer's report "
            "of held linkages has them all)",
            err=True,
        )


def held_text(held: HeldLine) -> str:
    """One held row as the CLI reports it: line, why, and its qualification (no value)."""
    where = f" (qualification {held.qualification_id})" if held.qualification_id else ""
    return f"line {held.line}: held: {held.describe()}{where}"


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    partial: Annotated[
        bool, typer.Option("--partial", help="import the good rows even if some are rejected")
    ] = False,
    insurer: Annotated[
        str | None, typer.Option(help="accept only rows of this insurer number")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help=f"one of {', '.join(ENCODINGS)}; detected if omitted")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="write every rejected row (TSV: line, reason) and every held row here "
            "instead of stderr"
        ),
    ] = None,
) -> None:
    """Import members from a CSV file (UTF-8 or Shift_JIS). All or nothing unless
    --partial; every rejected row is reported with its line number. Every row is matched
    against the card issuer's resident register: a row whose four items differ is imported
    but held (not answered to clinics), and reported with its line and the items that
    differ. Exit 1 if rows were rejected."""
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    if encoding is not None and encoding not in ENCODINGS:
        raise _fail(f"--encoding must be one of {', '.join(ENCODINGS)}")
    register = _register(settings)
    sink = report.open("w", encoding="utf-8") if report else sys.stderr

    def on_rejection(rejection: Rejection) -> None:
        print(f"line {rejection.line}\t{rejection.reason}", file=sink)

    with (
        file.open("rb") as source,
        tqdm(
            total=file.stat().st_size, unit="B", unit_scale=True, desc="import", disable=None
        ) as bar,
    ):

        def on_progress(consumed: int) -> None:
            bar.update(consumed - bar.n)

        try:
            with transaction(sessions) as session:
                only = (
                    insurers.get_insurer(session=session, number=_insurer_number(insurer))
                    if insurer
                    else None
                )
                result = import_csv(
                    session=session,
                    source=source,
                    pseudonym_key=settings.pseudonym_bytes,
                    actor=Actor.operator("import"),
                    register=register,
                    insurer=only,
                    partial=partial,
                    encoding=encoding,
                    on_rejection=on_rejection,
                    on_progress=on_progress,
                    match_batch_rows=settings.import_batch_rows,
                )
            for held in result.held_lines:
                print(held_text(held), file=sink)
        except ImportRejected as rejected:
            bar.close()
            _print_report(rejected.report)
            raise typer.Exit(EXIT_REJECTED) from None
        except ImportFileInvalid as error:
            raise _fail(str(error), EXIT_REJECTED) from None
        except RegistryError as error:
            raise _fail(str(error)) from None
        finally:
            if report:
                sink.close()
    _print_report(result)
    if result.rejected:
        raise typer.Exit(EXIT_REJECTED)


def main() -> None:
    """Console entry point."""
    configure_logging("INFO")
    app()


if __name__ == "__main__":
    main()
