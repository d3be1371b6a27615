"""`clinic log …`: an outsider's audit of the server's access log (`log_audit`)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer

from clinic_client.log_audit import AuditFailed, LogAuditor, verify_history
from clinic_client.log_receipts import (
    AGAINST_THE_LOG,
    DEFAULT_GRACE,
    ReceiptBook,
    ReceiptBookError,
    Verdict,
    check_receipts,
)
from clinic_client.settings import ClinicSettings

log_app = typer.Typer(
    help="Audit the server's access log from outside: its signed and witnessed checkpoints, "
    "that each extends the last one seen, that a record is in the tree.",
    no_args_is_help=True,
)
ServerOpt = Annotated[str, typer.Option("--server", help="The qualification server's URL")]
LogKeyOpt = Annotated[
    str,
    typer.Option(
        "--log-key", help="The log's verifier key (C2SP note key string, as the server prints it)"
    ),
]
WitnessOpt = Annotated[
    list[str],
    typer.Option(
        "--witness-key",
        help="A witness's verifier key (cosignature/v1); each given must have cosigned",
    ),
]
OriginOpt = Annotated[str | None, typer.Option("--origin", help="The log's origin line")]


def _stop(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"clinic log: {message}", err=True)
    raise typer.Exit(code)


def _auditor(server: str, log_key: str, witness_keys: list[str], origin: str | None) -> LogAuditor:
    try:
        return LogAuditor(server, log_key=log_key, witness_keys=witness_keys, origin=origin)
    except ValueError as exc:  # a key string that does not parse
        _stop(f"bad key: {exc}", 2)


@log_app.command("checkpoint")
def checkpoint(
    server: ServerOpt, log_key: LogKeyOpt, witness_key: WitnessOpt, origin: OriginOpt = None
) -> None:
    """Fetch the latest checkpoint and verify its signature and cosignatures."""
    auditor = _auditor(server, log_key, witness_key, origin)
    try:
        typer.echo(auditor.latest().describe())
    except AuditFailed as exc:
        _stop(str(exc))
    except httpx.HTTPError as exc:
        _stop(f"cannot reach the server at {server}: {exc}", 2)
    finally:
        auditor.close()


@log_app.command("consistency")
def consistency(
    old: Annotated[Path, typer.Argument(help="A checkpoint note kept earlier")],
    new: Annotated[Path, typer.Argument(help="A later checkpoint note")],
    server: ServerOpt,
    log_key: LogKeyOpt,
    witness_key: WitnessOpt,
    origin: OriginOpt = None,
) -> None:
    """Verify that checkpoint NEW extends checkpoint OLD (the server's consistency proof)."""
    auditor = _auditor(server, log_key, witness_key, origin)
    try:
        first, second = auditor.verified(old.read_text()), auditor.verified(new.read_text())
        auditor.check_extends(first, second)
    except AuditFailed as exc:
        _stop(str(exc))
    except OSError as exc:
        _stop(f"cannot read a checkpoint: {exc}", 2)
    except httpx.HTTPError as exc:
        _stop(f"cannot reach the server at {server}: {exc}", 2)
    finally:
        auditor.close()
    typer.echo(f"consistent: size {first.checkpoint.size} → {second.checkpoint.size}")


@log_app.command("audit")
def audit(
    state: Annotated[
        Path, typer.Option("--state", help="Where the last verified checkpoint is kept")
    ],
    server: ServerOpt,
    log_key: LogKeyOpt,
    witness_key: WitnessOpt,
    origin: OriginOpt = None,
) -> None:
    """Verify the server's latest checkpoint extends the one kept in STATE, then keep it.
    Run it regularly: a rewritten, truncated or wiped log fails here."""
    auditor = _auditor(server, log_key, witness_key, origin)
    try:
        kept, latest = auditor.audit(state)
    except AuditFailed as exc:
        _stop(str(exc))
    except httpx.HTTPError as exc:
        _stop(f"cannot reach the server at {server}: {exc}", 2)
    finally:
        auditor.close()
    before = f"extends size {kept.checkpoint.size}; " if kept else "first checkpoint kept; "
    typer.echo(before + latest.describe())


@log_app.command("verify-history")
def verify_history_file(
    document: Annotated[
        Path, typer.Argument(help="onshi-access-proofs.json (the portal's 「証明データを保存」)")
    ],
    log_key: LogKeyOpt,
    witness_key: WitnessOpt,
    origin: OriginOpt = None,
) -> None:
    """Check, offline, every record of a saved access history against its witnessed
    checkpoint. Exit 1 if any record or the checkpoint does not verify."""
    try:
        loaded = json.loads(document.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _stop(f"cannot read {document}: {exc}", 2)
    if not isinstance(loaded, dict):
        _stop(f"{document} is not an access history", 2)
    try:
        checkpoint, checks = verify_history(loaded, log_key, witness_key, origin)
    except AuditFailed as exc:
        _stop(str(exc))
    except ValueError as exc:  # a key string that does not parse
        _stop(f"bad key: {exc}", 2)
    if checkpoint is not None:
        typer.echo(checkpoint.describe())
    for check in checks:
        where = f"leaf {check.leaf_index}" if check.leaf_index is not None else "not sealed"
        line = f"{check.recorded_at}\t{where}\t{check.verdict}"
        typer.echo(line + (f": {check.reason}" if check.reason else ""))
    verified = sum(c.verdict == "verified" for c in checks)
    failed = [c for c in checks if c.verdict == "failed"]
    typer.echo(f"{verified} verified, {len(checks) - verified - len(failed)} pending, "
               f"{len(failed)} failed")  # fmt: skip
    if failed:
        raise typer.Exit(1)


@log_app.command("check-receipts")
def check_receipts_command(
    server: Annotated[
        str | None, typer.Option("--server", help="The server's URL; default: the desk's")
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="The log's verifier key; default: ONSHI_CLINIC_LOG_KEY"),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key", help="A witness's verifier key; default: ONSHI_CLINIC_LOG_WITNESS_KEYS"
        ),
    ] = None,
    receipts: Annotated[
        Path | None,
        typer.Option(
            "--receipts", help="The receipts book; default: ONSHI_CLINIC_LOG_RECEIPTS_FILE"
        ),
    ] = None,
    grace_s: Annotated[
        float, typer.Option("--grace-s", help="How long a record may wait to be witnessed")
    ] = DEFAULT_GRACE.total_seconds(),
    forget_verified: Annotated[
        bool, typer.Option("--forget-verified", help="Drop verified receipts from the book")
    ] = False,
) -> None:
    """Check every receipt the desk kept: each record it names must be in the server's
    witnessed log with the content signed. Exit 1 if the log lost or changed a record it
    signed for (or a record is overdue), 0 if every one is verified or still pending."""
    settings = ClinicSettings()
    server = server or settings.server_url
    log_key = log_key or settings.log_key
    witness_keys = witness_key if witness_key else settings.log_witness_keys
    book_path = receipts or settings.log_receipts_file
    token = settings.token.get_secret_value()
    if not log_key:
        _stop("the log's key is needed: --log-key or ONSHI_CLINIC_LOG_KEY", 2)
    if book_path is None:
        _stop("no receipts book: --receipts or ONSHI_CLINIC_LOG_RECEIPTS_FILE", 2)
    if not token:
        _stop("the clinic's credential is needed: ONSHI_CLINIC_TOKEN", 2)
    book = ReceiptBook(book_path)
    try:
        kept = book.read()
    except ReceiptBookError as exc:
        _stop(str(exc), 2)
    auditor = _auditor(server, log_key, witness_keys, settings.log_origin)
    try:
        checkpoint, checks = check_receipts(
            auditor, kept, token=token, log_key=log_key, origin=settings.log_origin,
            grace=dt.timedelta(seconds=grace_s),
        )  # fmt: skip
    except AuditFailed as exc:
        _stop(str(exc))
    except ValueError as exc:  # a key string that does not parse
        _stop(f"bad key: {exc}", 2)
    except httpx.HTTPError as exc:
        _stop(f"cannot reach the server at {server}: {exc}", 2)
    finally:
        auditor.close()
    typer.echo(checkpoint.describe() if checkpoint else "no witnessed checkpoint yet")
    for check in checks:
        made = check.made_at.isoformat() if check.made_at else "-"
        for record_id, verdict, reason in check.records:
            typer.echo(f"{made}\trecord {record_id}\t{verdict.value}: {reason}")
    counts = Counter(check.verdict for check in checks)
    typer.echo(", ".join(f"{counts[v]} {v.value}" for v in Verdict if counts[v]) or "no receipts")
    if forget_verified:
        gone = book.forget({c.kept.receipt for c in checks if c.verdict is Verdict.VERIFIED})
        typer.echo(f"{gone} verified receipts dropped from {book_path}")
    if any(c.verdict in AGAINST_THE_LOG or c.verdict is Verdict.OVERDUE for c in checks):
        raise typer.Exit(1)
