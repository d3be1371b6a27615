"""`witness`: make the witness's key, run it, and show what it remembers. Mounted as
`qualification-server witness …` and runnable as `python -m qualification_server.witness …`."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn

from onshi_kernel.logs import configure_logging
from onshi_kernel.transparency.checkpoint import WitnessSigner
from onshi_kernel.transparency.note import Ed25519Signer, Ed25519Verifier, NoteError
from qualification_server.witness.app import Witness, create_witness_app
from qualification_server.witness.state import StateError, StateStore, load_state

app = typer.Typer(
    help="The access log's witness: cosigns the log's checkpoints after checking each one "
    "extends the last it cosigned (C2SP tlog-witness); refuses and reports one that does not.",
    no_args_is_help=True,
    add_completion=False,
)
logger = logging.getLogger(__name__)


def _fail(message: str) -> NoReturn:
    typer.echo(f"witness: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def init(
    key: Annotated[Path, typer.Option(help="Where to write the new private key (mode 0600)")],
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. witness.example/w1")],
) -> None:
    """Make a new witness key; print its verifier key string (cosignature/v1) to publish."""
    try:
        signer = Ed25519Signer.generate(name)
    except NoteError as exc:
        _fail(f"--name: {exc.reason}")
    try:
        # O_EXCL: a witness's key is its identity; replacing one is never an accident to allow.
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"{key} exists; a witness keeps its key (remove it first to start a new witness)")
    except OSError as exc:
        _fail(f"cannot create {key}: {exc.strerror}")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(signer.key_string() + "\n")
        f.flush()
        os.fsync(f.fileno())
    typer.echo(WitnessSigner(name, signer.private_key).verifier().key_string())


def read_key(path: Path) -> WitnessSigner:
    """The witness key in `path`; refused when others may read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the key {path}: {exc}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _fail(f"the key {path} may be read by others (chmod 600 it)")
    try:
        return WitnessSigner.from_key(text)
    except NoteError as exc:
        _fail(f"the key {path}: {exc.reason}")


def parse_logs(values: list[str]) -> dict[str, list[Ed25519Verifier]]:
    """`ORIGIN=VERIFIER_KEY` options as origin → keys (an origin may be given more than
    once, with each of its keys, while a log rotates its key)."""
    logs: dict[str, list[Ed25519Verifier]] = {}
    for value in values:
        origin, equals, vkey = value.partition("=")
        if not equals or not origin:
            _fail(f"--log {value!r}: expected ORIGIN=VERIFIER_KEY")
        try:
            logs.setdefault(origin, []).append(Ed25519Verifier.from_key(vkey))
        except NoteError as exc:
            _fail(f"--log {origin}: {exc.reason}")
    return logs


@app.command()
def serve(
    key: Annotated[Path, typer.Option(help="The witness's private key file (from init)")],
    state: Annotated[Path, typer.Option(help="The witness's state file (JSON, its own disk)")],
    log: Annotated[
        list[str], typer.Option(help="A log to witness: ORIGIN=VERIFIER_KEY (repeatable)")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8400,
) -> None:
    """Serve the tlog-witness protocol for the given logs."""
    configure_logging("INFO")
    signer = read_key(key)
    logs = parse_logs(log)
    try:
        store = StateStore(state)
    except StateError as exc:
        _fail(str(exc))
    try:
        if not state.exists():
            logger.warning(
                "witness %s starts with no state at %s: it will trust the first checkpoint "
                "of each log",
                signer.name,
                state,
            )
        for origin in logs:
            known = store.state.logs.get(origin)
            logger.info(
                "witness %s witnesses origin=%s cosigned_size=%s",
                signer.name,
                origin,
                "none" if known is None else known.size,
            )
        witness = Witness(signer, logs, store)
        uvicorn.run(create_witness_app(witness), host=host, port=port, log_level="warning")
    finally:
        store.close()


@app.command()
def status(
    state: Annotated[Path, typer.Option(help="The witness's state file")],
) -> None:
    """Print the last cosigned size and root of each log, and the alarms."""
    try:
        found = load_state(state)
    except StateError as exc:
        _fail(str(exc))
    if not found.logs:
        typer.echo("no checkpoint cosigned")
    for origin, known in sorted(found.logs.items()):
        root = base64.b64encode(known.root).decode("ascii")
        typer.echo(
            f"{origin}: size {known.size}, root {root}, cosigned {known.cosigned_at.isoformat()}"
        )
    open_alarms = [a for a in found.alarms if a.resolved_at is None]
    typer.echo(f"alarms: {len(open_alarms)} open, {len(found.alarms) - len(open_alarms)} resolved")
    for alarm in found.alarms:
        resolved = "" if alarm.resolved_at is None else f" (resolved {alarm.resolved_at})"
        typer.echo(
            f"  {alarm.at.isoformat()} {alarm.origin} {alarm.kind}: cosigned size "
            f"{alarm.cosigned_size}, old {alarm.old_size}, new {alarm.new_size}: "
            f"{alarm.reason}{resolved}"
        )
    if open_alarms:
        raise typer.Exit(2)


def main() -> None:
    """Entry point of `python -m qualification_server.witness`."""
    app(prog_name="witness")
