"""`conformance`: make a kit, then run its catalogue against a qualification server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from card_reader.settings import IssuerSettings
from clinic_client.api import QualificationClient
from clinic_client.conformance.connector_mode import CONNECTOR_CATALOGUE, FolderContext
from clinic_client.conformance.kit import INSURER_A, INSURER_B, Kit, create_kit
from clinic_client.conformance.runner import Outcome, run_catalogue, table, write_junit
from clinic_client.conformance.scenarios import CATALOGUE, Context

app = typer.Typer(
    help="Conformance kit for servers that speak the onshi API, with emulated cards.",
    no_args_is_help=True,
    add_completion=False,
)


def _pseudonym_key() -> bytes:
    """The key of the kit's person references; the development key needs ONSHI_ENV=development."""
    try:
        return IssuerSettings().pseudonym_key_bytes
    except ValidationError as exc:
        typer.echo(f"conformance: settings: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(1) from None


@app.command()
def init(kit_dir: Annotated[Path, typer.Argument(help="A new directory for the kit")]) -> None:
    """Issue the kit's cards (its own test CA), a rogue CA's card, members.csv and a
    face-check device key; then say how to configure the server under test."""
    try:
        kit = create_kit(kit_dir, pseudonym_key=_pseudonym_key())
    except ValueError as exc:
        typer.echo(f"conformance: {exc}", err=True)
        raise typer.Exit(1) from None
    public = json.loads((kit.root / "kit.json").read_text())["device_public_key"]
    issuer = kit.issuer_dir
    typer.echo(f"""kit written to {kit.root}. Configure the server under test:
  trust     ONSHI_JPKI_CA_FILES='["{issuer}/ca/auth_ca.pem"]'
            ONSHI_JPKI_SMARTPHONE_CA_FILES='["{issuer}/ca/phone_auth_ca.pem"]'
            ONSHI_JPKI_CRL_FILES='["{issuer}/crl/auth_ca.crl", "{issuer}/crl/phone_auth_ca.crl"]'
                                                                 (reloaded when they change)
            ONSHI_ISSUER_DIRECTORY_FILES='["{issuer}/directory.json"]'
  registry  insurer-registry insurer add {INSURER_A} "conformance A"
            insurer-registry insurer add {INSURER_B} "conformance B"
            insurer-registry import {kit.members_csv}
  device    qualification-server clinic device <clinic code> conformance-face {public}
The kit and the registry must share ONSHI_PSEUDONYM_KEY.""")


@app.command()
def run(
    kit_dir: Annotated[Path, typer.Option("--kit", help="The kit from `conformance init`")],
    server: Annotated[str | None, typer.Option(help="The qualification server's URL")] = None,
    clinic_credential: Annotated[
        str | None, typer.Option(help="<医療機関コード>.<secret>, for the server mode")
    ] = None,
    connector: Annotated[
        Path | None,
        typer.Option(help="Drive this connector folder instead (docs/file-interface.md)"),
    ] = None,
    clinic_code: Annotated[
        str, typer.Option(help="MedicalInstitutionCode in the connector mode's requests")
    ] = "1310000017",
    device_id: Annotated[
        str | None, typer.Option(help="The kit's device as registered for the clinic")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these scenarios")] = None,
) -> None:
    """Run the catalogue against a server (--server, --clinic-credential) or a connector
    folder (--connector); exit 1 if any scenario failed."""
    try:
        kit = Kit.load(kit_dir)
    except ValueError as exc:
        typer.echo(f"conformance: {exc}", err=True)
        raise typer.Exit(2) from None
    if connector is not None:
        if not (connector / "req").is_dir():
            typer.echo(f"conformance: {connector}/req does not exist", err=True)
            raise typer.Exit(2)
        folder = FolderContext(connector, clinic_code)
        chosen = [c for c in CONNECTOR_CATALOGUE if not only or c.id in only]
        results = run_catalogue(folder, chosen)
    else:
        if server is None or clinic_credential is None:
            typer.echo(
                "conformance: give --server and --clinic-credential, or --connector", err=True
            )
            raise typer.Exit(2)
        client = QualificationClient(server, clinic_credential)
        context = Context(
            client=client,
            server_url=server.rstrip("/"),
            kit=kit,
            issuer=kit.issuer(_pseudonym_key()),
            device=(device_id, kit.device_key()) if device_id else None,
        )
        results = run_catalogue(context, [s for s in CATALOGUE if not only or s.id in only])
        client.close()
    typer.echo(table(results))
    if junit is not None:
        write_junit(results, junit)
    if any(r.outcome is Outcome.FAILED for r in results):
        raise typer.Exit(1)


def main() -> None:
    app()
