"""`conformance`: make a kit, then run its catalogue against a qualification server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
from pydantic import ValidationError

from card_reader.issuance.issuer import IssuerError
from card_reader.settings import IssuerSettings
from clinic_client.api import QualificationClient, ServerError, ServerRefused, ServerUnreachable
from clinic_client.conformance.connector_mode import CONNECTOR_CATALOGUE, FolderContext
from clinic_client.conformance.insurer_api import InsurerAccess, InsurerApi
from clinic_client.conformance.kit import (
    INSURER_A,
    INSURER_B,
    MISLINKED_NUMBER,
    Kit,
    create_kit,
    residents_of,
)
from clinic_client.conformance.runner import (
    Outcome,
    Result,
    Unreachable,
    run_catalogue,
    table,
    write_junit,
)
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


def _stop(message: str) -> NoReturn:
    """One line on stderr and exit 2: the run could not start (or go on), nothing was judged."""
    typer.echo(f"conformance: {message}", err=True)
    raise typer.Exit(2)


def _check_credential(client: QualificationClient, server: str) -> None:
    """One call before anything else (a challenge, which needs the clinic credential): a
    server that cannot be reached, or refuses the credential, would otherwise fail every
    scenario with a reason that points elsewhere."""
    try:
        client.challenge()
    except ServerUnreachable as exc:
        _stop(f"cannot reach the server at {server}: {exc.__cause__ or exc}")
    except ServerRefused as exc:
        if exc.status in (401, 403) or exc.code.startswith("Q5"):
            _stop(f"the server refused the clinic credential ({exc.code}): "
                  "check --clinic-credential")  # fmt: skip
        _stop(f"the server at {server} refused a challenge: {exc}")
    except ServerError as exc:
        _stop(f"the server at {server} does not answer as a qualification server: {exc}")
    except ValueError as exc:  # a 200 that is not a challenge
        _stop(f"the server at {server} does not answer as a qualification server: {exc}")


def _insurer_access(
    registry: str | None, first: str | None, second: str | None
) -> InsurerAccess | None:
    """The registry's insurer API and two credentials of INSURER_A, all three or none (the
    insurer-side scenarios are then not run)."""
    given = (registry, first, second)
    if all(value is None for value in given):
        return None
    if registry is None or first is None or second is None:
        _stop("give --registry, --insurer-credential and --second-insurer-credential together")
    if first == second:
        _stop("--insurer-credential and --second-insurer-credential are the same: releasing a "
              "held linkage takes two distinct users of the insurer")  # fmt: skip
    return InsurerAccess(registry.rstrip("/"), first, second)


def _check_registry(access: InsurerAccess) -> None:
    """Each credential finds the kit's held member at the registry before anything else: a
    registry that cannot be reached, refuses a credential, or has another insurer's (or has
    not imported members.csv) would otherwise fail the insurer-side scenarios far from the
    cause."""
    credentials = (
        ("--insurer-credential", access.credential),
        ("--second-insurer-credential", access.second_credential),
    )
    for option, credential in credentials:
        try:
            with InsurerApi(access.url, credential) as api:
                found = api.search({"InsuredIdentificationNumber": MISLINKED_NUMBER})
        except httpx.InvalidURL as exc:
            _stop(f"--registry {access.url}: {exc}")
        except httpx.TransportError as exc:
            _stop(f"cannot reach the registry at {access.url}: {exc or type(exc).__name__}")
        if found.status == 401:
            _stop(f"the registry refused {option} ({found.code}): check it")
        if found.status != 200:
            _stop(f"the registry at {access.url} does not answer as an insurer API: "
                  f"{found.describe()}")  # fmt: skip
        insurers = {m.get("InsurerNumber") for m in found.body.get("Members", [])}
        if INSURER_A not in insurers:
            _stop(
                f"{option} does not see insured number {MISLINKED_NUMBER} at the registry: "
                f"give a credential of {INSURER_A}, and import the kit's members.csv"
            )


def _run_server_mode(
    kit: Kit,
    server: str,
    clinic_credential: str,
    device_id: str | None,
    only: list[str] | None,
    insurer: InsurerAccess | None,
) -> list[Result]:
    """Check the credentials, issue this run's cards, run the catalogue."""
    try:
        client = QualificationClient(server, clinic_credential)
    except httpx.InvalidURL as exc:
        _stop(f"--server {server}: {exc}")
    try:
        _check_credential(client, server)
        if insurer is not None:
            _check_registry(insurer)
        device = (device_id, kit.device_key()) if device_id else None
        key = _pseudonym_key()
        with kit.locked():
            card_run = kit.start_run(key)
            typer.echo(f"run {card_run.number}: fresh cards in {card_run.root / 'cards'}")
            context = Context(client=client, server_url=server.rstrip("/"), run=card_run,
                              issuer=kit.issuer(key), residents=residents_of(kit.seed),
                              device=device, insurer=insurer)  # fmt: skip
            return run_catalogue(context, [s for s in CATALOGUE if not only or s.id in only])
    except (ValueError, IssuerError) as exc:
        _stop(str(exc))
    except Unreachable as exc:
        _stop(f"cannot reach the server at {server}: {exc}")
    finally:
        client.close()


@app.command()
def init(kit_dir: Annotated[Path, typer.Argument(help="A new directory for the kit")]) -> None:
    """Make the kit's test CAs, a rogue CA, the issuer's resident register, members.csv and
    a face-check device key (each run issues its own cards from them); then say how to
    configure the server under test."""
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
  registry  ONSHI_RESIDENT_REGISTER_FILES='["{kit.register_file}"]'
                       (the issuer's four items, which every registration is matched against:
                        set it for the registry's commands and its API before the import)
            insurer-registry insurer add {INSURER_A} "conformance A"   (prints a credential)
            insurer-registry insurer credential {INSURER_A}            (a second one)
            insurer-registry insurer add {INSURER_B} "conformance B"
            insurer-registry import {kit.members_csv}
  device    qualification-server clinic device <clinic code> conformance-face {public}
The kit and the registry must share ONSHI_PSEUDONYM_KEY. Configure this once: each
`conformance run` issues its own cards into {kit.runs_dir}/NNNN and records them in these
files. For the insurer-side scenarios give `conformance run` the registry's insurer API
(--registry URL) and the two credentials of {INSURER_A} (--insurer-credential,
--second-insurer-credential).""")


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
    registry: Annotated[
        str | None,
        typer.Option(help="The registry's insurer API (its URL), for the insurer-side scenarios"),
    ] = None,
    insurer_credential: Annotated[
        str | None, typer.Option(help=f"ins_…: a credential of {INSURER_A} at --registry")
    ] = None,
    second_insurer_credential: Annotated[
        str | None,
        typer.Option(help=f"ins_…: another credential of {INSURER_A} (a second user)"),
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these scenarios")] = None,
) -> None:
    """Run the catalogue against a server (--server, --clinic-credential), with cards issued
    for this run, or a connector folder (--connector); exit 1 if any scenario failed, 2 if
    the run could not start (no kit, no server, a refused credential). The insurer-side
    scenarios (linkage-correction, linkage-release) register, correct and confirm members at
    the registry as INSURER_A: give --registry and its two credentials, or they are not
    run."""
    try:
        kit = Kit.load(kit_dir)
    except ValueError as exc:
        _stop(str(exc))
    if connector is not None:
        if not (connector / "req").is_dir():
            _stop(f"{connector}/req does not exist")
        folder = FolderContext(connector, clinic_code)
        chosen = [c for c in CONNECTOR_CATALOGUE if not only or c.id in only]
        results = run_catalogue(folder, chosen)
    else:
        if server is None or clinic_credential is None:
            _stop("give --server and --clinic-credential, or --connector")
        insurer = _insurer_access(registry, insurer_credential, second_insurer_credential)
        results = _run_server_mode(kit, server, clinic_credential, device_id, only, insurer)
    typer.echo(table(results))
    if junit is not None:
        write_junit(results, junit)
    if any(r.outcome is Outcome.FAILED for r in results):
        raise typer.Exit(1)


def main() -> None:
    app()
