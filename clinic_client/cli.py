"""`clinic`: the front desk — its web app, the receipt-computer connector, and scripted checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import ValidationError

from clinic_client.api import QualificationClient
from clinic_client.connector import ConnectorBusy, run_connector, write_face_result
from clinic_client.desk import Failure, check_card, failure_of, register_card
from clinic_client.log_cli import log_app
from clinic_client.log_receipts import ReceiptBook
from clinic_client.reader import FrontDeskReader
from clinic_client.settings import ClinicSettings
from onshi_kernel.http_limits import BoundedHttpToolsProtocol
from onshi_kernel.japan_time import japan_today, yyyymmdd
from onshi_kernel.logs import configure_logging
from qualification_server.contract.schemas import Consents, EligibilityAnswer, InsuredCardQuery

app = typer.Typer(
    help="The clinic's front desk: web app, receipt-computer connector, scripted checks.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(log_app, name="log")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"clinic: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> ClinicSettings:
    """The desk's settings; one that does not validate ends the command naming its variable."""
    try:
        return ClinicSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        variable = name if name.startswith("ONSHI_") else f"ONSHI_CLINIC_{name.upper()}"
        _fail(f"settings: {variable}: {first['msg']}")


def _client(settings: ClinicSettings) -> QualificationClient:
    token = settings.token.get_secret_value()
    if not token:
        _fail(
            "set ONSHI_CLINIC_TOKEN to this clinic's credential (qualification-server clinic add)"
        )
    receipts = settings.log_receipts_file
    return QualificationClient(
        settings.server_url, token, receipts=ReceiptBook(receipts) if receipts else None
    )


def _device(settings: ClinicSettings) -> tuple[str, Ed25519PrivateKey] | None:
    if settings.device_key_file is None:
        return None
    key = load_pem_private_key(settings.device_key_file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        _fail(f"{settings.device_key_file} is not an Ed25519 private key")
    return settings.device_id, key


def _print_answer(answer: EligibilityAnswer, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(answer.model_dump(exclude_none=True), ensure_ascii=False, indent=1))
        return
    body = answer.MessageBody
    typer.echo(f"QualificationValidity: {body.QualificationValidity}")
    for r in body.ResultList.ResultOfQualificationConfirmation if body.ResultList else []:
        typer.echo(f"  {r.Name} ({r.NameKana or ''}) born {r.Birthdate} sex {r.Sex1}")
        typer.echo(f"  insurer {r.InsurerNumber.strip()} {r.InsurerName}")
        symbol = f"{r.InsuredCardSymbol}・" if r.InsuredCardSymbol else ""
        typer.echo(f"  {symbol}{r.InsuredIdentificationNumber}・{r.InsuredBranchNumber}"
                   f"  copay {r.InsuredPartialContributionRatio or '-'}"
                   f"  from {r.QualificationDate} to {r.DisqualificationDate or '-'}")  # fmt: skip


def _print_failure(failure: Failure) -> NoReturn:
    code = f" ({failure.code})" if failure.code else ""
    _fail(f"{failure.kind.value}{code}: {failure.message_en} / {failure.message_ja}", 2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Listen address (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8400,
) -> None:
    """Serve the reception terminal (受付端末; Japanese first, English available)."""
    from clinic_client.web.app import clinic_of, create_clinic_app

    settings = _settings()
    if not settings.reception_key.get_secret_value():
        typer.echo("ONSHI_CLINIC_RECEPTION_KEY is not set: no check-in will be taken", err=True)
    web = create_clinic_app(
        client=_client(settings),
        reception_key=settings.reception_key,
        clinic_code=clinic_of(settings.token.get_secret_value()),
        on_check=_face_writer(settings),
    )
    typer.echo(f"reception terminal at http://{host}:{port}/")
    uvicorn.run(web, host=host, port=port, log_level="warning", http=BoundedHttpToolsProtocol)


@app.command("reader-serve")
def reader_serve(
    host: Annotated[str, typer.Option(help="Listen address (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8401,
) -> None:
    """Serve the patient-facing reader page (card, PIN or face, consents); each check is
    posted to the reception terminal at ONSHI_CLINIC_RECEPTION_URL."""
    from clinic_client.reader_web.app import create_reader_app

    settings = _settings()
    web = create_reader_app(
        reader=FrontDeskReader(settings.reader),
        client=_client(settings),
        server_url=settings.server_url,
        device=_device(settings),
        reception_url=settings.reception_url,
        reception_key=settings.reception_key.get_secret_value(),
    )
    typer.echo(f"card reader page at http://{host}:{port}/")
    uvicorn.run(web, host=host, port=port, log_level="warning", http=BoundedHttpToolsProtocol)


def _face_writer(settings: ClinicSettings) -> Callable[[EligibilityAnswer], None] | None:
    """With ONSHI_CLINIC_CONNECTOR_DIR set, each card check also lands in its face/ folder."""
    directory = settings.connector_dir
    if directory is None:
        return None

    def write(answer: EligibilityAnswer) -> None:
        write_face_result(directory, answer)

    return write


@app.command()
def connector(
    directory: Annotated[Path, typer.Option("--dir", help="The folder with req/ and res/")],
) -> None:
    """Answer the receipt computer's request files (docs/file-interface.md) until Ctrl-C."""
    settings = _settings()
    typer.echo(f"watching {directory / 'req'}; answers go to {directory / 'res'}")
    try:
        run_connector(directory, _client(settings))
    except KeyboardInterrupt:
        typer.echo("connector stopped")
    except ConnectorBusy:
        _fail(f"another connector already serves {directory}")
    except NotADirectoryError:
        _fail(f"{directory} is not a directory (create it, with req/ inside)")


@app.command()
def verify(
    pin: Annotated[str | None, typer.Option(help="The card's PIN (asked for if absent)")] = None,
    mode: Annotated[str, typer.Option(help="pin, face or visual")] = "pin",
    limit_consent: Annotated[
        bool, typer.Option(help="The patient shares 限度額 information")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the card in the reader and print the eligibility answer."""
    if mode not in ("pin", "face", "visual"):
        _fail("--mode is pin, face or visual")
    settings = _settings()
    if mode == "pin" and pin is None:
        pin = typer.prompt("PIN (4 digits)", hide_input=True)
    try:
        answer, _ = check_card(
            FrontDeskReader(settings.reader), _client(settings), mode=mode,  # type: ignore[arg-type]
            pin=pin, consents=Consents(limit_application=limit_consent), device=_device(settings),
        )  # fmt: skip
    except Exception as exc:  # every failure becomes its own message (failure_of)
        _print_failure(failure_of(exc))
    writer = _face_writer(settings)
    if writer is not None:
        writer(answer)
    _print_answer(answer, as_json)


@app.command()
def register(
    pin: Annotated[str | None, typer.Option(help="The card's PIN (asked for if absent)")] = None,
    consent: Annotated[
        bool, typer.Option("--consent", help="The person has agreed (asked for if absent)")
    ] = False,
) -> None:
    """初回登録 of the card in the reader: the person's card becomes their insurance card."""
    if not consent and not typer.confirm("The card holder agrees to use it as a health card?"):
        _fail("not registered: the card holder's consent is needed")
    settings = _settings()
    if pin is None:
        pin = typer.prompt("PIN (4 digits)", hide_input=True)
    try:
        result = register_card(FrontDeskReader(settings.reader), _client(settings), pin=pin)
    except Exception as exc:  # every failure becomes its own message (failure_of)
        _print_failure(failure_of(exc))
    done = "already registered" if result.already_registered else "registered"
    typer.echo(f"{done}; insurers {', '.join(result.insurers) or '-'}")


@app.command()
def lookup(
    insurer: Annotated[str, typer.Option(help="保険者番号")],
    number: Annotated[str, typer.Option(help="番号")],
    birthdate: Annotated[str, typer.Option(help="生年月日 YYYYMMDD")],
    symbol: Annotated[str | None, typer.Option(help="記号")] = None,
    branch: Annotated[
        str | None, typer.Option(help="枝番 (left out: every branch with this birth date)")
    ] = None,
    date: Annotated[str | None, typer.Option(help="confirmation date YYYYMMDD")] = None,
    as_json: JsonOpt = False,
) -> None:
    """個別照会 by the number on a health insurance card."""
    try:
        query = InsuredCardQuery(
            InsurerNumber=insurer, InsuredCardSymbol=symbol, InsuredIdentificationNumber=number,
            InsuredBranchNumber=branch, Birthdate=birthdate,
        )  # fmt: skip
    except ValueError as exc:
        _fail(f"invalid query: {exc}")
    settings = _settings()
    try:
        answer = _client(settings).lookup(query, confirmation_date=date or yyyymmdd(japan_today()))
    except Exception as exc:
        _print_failure(failure_of(exc))
    _print_answer(answer, as_json)


@app.command("portal-serve")
def portal_serve(
    host: Annotated[str, typer.Option(help="Listen address (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8402,
) -> None:
    """Serve the person's portal page (マイナポータル stand-in) on their own PC, with its card
    reader: sign in with the card and PIN, the registration, who looked, 利用登録 and its
    withdrawal. No clinic credential: the card proves each request (docs/portal.md)."""
    from clinic_client.portal_web.app import LogCheck, create_portal_app
    from clinic_client.portal_web.card import PortalReader

    settings = _settings()
    web = create_portal_app(
        reader=PortalReader(settings.reader),
        client=QualificationClient(settings.server_url, ""),
        log_check=LogCheck(settings.log_key, tuple(settings.log_witness_keys), settings.log_origin),
    )
    typer.echo(f"portal at http://{host}:{port}/")
    uvicorn.run(web, host=host, port=port, log_level="warning", http=BoundedHttpToolsProtocol)


def main() -> None:
    configure_logging()
    app()
