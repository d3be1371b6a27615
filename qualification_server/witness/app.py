"""The witness's HTTP service: the C2SP tlog-witness protocol (https://c2sp.org/tlog-witness)
`POST /add-checkpoint`, followed as written, plus two read routes of this project's own
(`GET /checkpoint`, `GET /alarms`) for `verify-log`, auditors and the operator.

What a cosignature says: the log's key signed this checkpoint, and it extends (by a verified
RFC 9162 consistency proof) the last checkpoint this witness cosigned for that log, which is
now on the witness's disk. A checkpoint that does not extend it is refused and reported: a
log line and an alarm in the state (`GET /alarms`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from onshi_kernel.body_limit import BodySizeLimit
from onshi_kernel.transparency.checkpoint import Checkpoint, WitnessSigner, cosign
from onshi_kernel.transparency.merkle import HASH_SIZE, ProofError, verify_consistency
from onshi_kernel.transparency.note import (
    Ed25519Verifier,
    NoteError,
    NoteSignature,
    open_note,
    split_note,
)
from qualification_server.witness.state import (
    Alarm,
    AlarmKind,
    LogState,
    StateStore,
    with_alarm,
    with_cosigned,
)

logger = logging.getLogger(__name__)

SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63  # the spec's limit on what a client sends
# A request is an old-size line, at most 63 proof lines and a checkpoint note with at most
# 100 signatures: well under 32 KiB. Nothing larger is read.
MAX_BODY_BYTES = 32 * 1024
_OLD = re.compile(r"old (0|[1-9][0-9]*)")

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Refused(Exception):
    """An add-checkpoint request the witness does not cosign: the HTTP status to answer,
    the reason, and for a 409 on the old size the size the witness last cosigned."""

    def __init__(self, status: int, reason: str, size: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.size = size

    def response(self) -> Response:
        """The HTTP answer the spec asks for."""
        if self.size is not None:
            return PlainTextResponse(
                f"{self.size}\n", status_code=self.status, media_type=SIZE_CONTENT_TYPE
            )
        return PlainTextResponse(f"{self.reason}\n", status_code=self.status)


@dataclass(frozen=True, slots=True)
class Submission:
    """A parsed add-checkpoint body: the old size, the proof, the note and its checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    checkpoint: Checkpoint


def parse_submission(body: bytes) -> Submission:
    """The request body of add-checkpoint; `Refused(400)` when it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    first, newline, rest = text.partition("\n")
    found = _OLD.fullmatch(first)
    if not newline or found is None:
        raise Refused(400, "the body does not begin with an old size line")
    if len(found.group(1)) > 20 or int(found.group(1)) >= 2**64:
        raise Refused(400, "the old size does not fit in 64 bits")
    proof: list[bytes] = []
    while True:
        line, newline, rest = rest.partition("\n")
        if not newline:
            raise Refused(400, "the proof is not followed by an empty line")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise Refused(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            raw = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "a proof line is not base64") from None
        if len(raw) != HASH_SIZE:
            raise Refused(400, f"a proof line is not a {HASH_SIZE}-byte hash")
        proof.append(raw)
    try:
        note_text, _ = split_note(rest)
        checkpoint = Checkpoint.parse(note_text)
    except NoteError as exc:
        raise Refused(400, f"not a checkpoint note: {exc.reason}") from None
    return Submission(int(found.group(1)), tuple(proof), rest, checkpoint)


class Witness:
    """The witness's decisions over its state: `add_checkpoint` checks a submission,
    records it and cosigns it, or refuses it (and raises an alarm when the log's own
    signed checkpoint does not extend the last one cosigned)."""

    def __init__(
        self,
        signer: WitnessSigner,
        logs: Mapping[str, Sequence[Ed25519Verifier]],
        store: StateStore,
        clock: Clock = _now,
    ) -> None:
        self.signer = signer
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self.store = store
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> list[str]:
        """The cosignature line(s) for the submission in `body` (each ending in a newline),
        once the new state is on disk; `Refused` with the spec's status otherwise."""
        submission = parse_submission(body)
        checkpoint = submission.checkpoint
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise Refused(404, "this witness does not witness that origin")
        try:
            open_note(submission.note, keys)
        except NoteError as exc:
            raise Refused(403, f"the log's signature does not verify: {exc.reason}") from None
        if submission.old_size > checkpoint.size:
            with self.store.lock:
                self._alarm_if_smaller(submission)
            raise Refused(400, "the old size is larger than the checkpoint's size")
        with self.store.lock:
            return self._check_and_cosign(submission, keys)

    def _check_and_cosign(
        self, submission: Submission, keys: Sequence[Ed25519Verifier]
    ) -> list[str]:
        checkpoint = submission.checkpoint
        last = self.store.state.logs.get(checkpoint.origin)
        cosigned_size = 0 if last is None else last.size
        if last is not None and checkpoint.size == last.size and checkpoint.root != last.root:
            self._alarm(submission, "fork", "the same size as the last cosigned, another root")
            if submission.old_size != last.size:
                raise Refused(409, "the old size is not the last cosigned", last.size)
            raise Refused(409, "the same size as the last cosigned checkpoint, another root")
        if last is not None and checkpoint.size < last.size:
            self._alarm(submission, "smaller", "a smaller tree than the last cosigned")
        if submission.old_size != cosigned_size:
            raise Refused(409, "the old size is not the last cosigned", cosigned_size)
        if last is None:
            if submission.proof:
                raise Refused(400, "the proof from size 0 must be empty")
        else:
            try:
                verify_consistency(
                    last.size, checkpoint.size, last.root, checkpoint.root, submission.proof
                )
            except ProofError as exc:
                self._alarm(submission, "bad-proof", f"the consistency proof fails: {exc.reason}")
                raise Refused(422, f"the consistency proof does not verify: {exc.reason}") from None
        now = self.clock()
        cosigned = cosign(_only_by(submission.note, keys), self.signer, now)
        record = LogState(
            checkpoint.origin, checkpoint.size, checkpoint.root, cosigned, now.astimezone(dt.UTC)
        )
        self.store.write(with_cosigned(self.store.state, record))
        logger.info(
            "witness cosigned origin=%s old_size=%d new_size=%d",
            checkpoint.origin,
            cosigned_size,
            checkpoint.size,
        )
        return [self._my_line(cosigned)]

    def _alarm_if_smaller(self, submission: Submission) -> None:
        last = self.store.state.logs.get(submission.checkpoint.origin)
        if last is not None and submission.checkpoint.size < last.size:
            self._alarm(submission, "smaller", "a smaller tree than the last cosigned")

    def _alarm(self, submission: Submission, kind: AlarmKind, reason: str) -> None:
        # The caller holds the store's lock.
        checkpoint = submission.checkpoint
        last = self.store.state.logs.get(checkpoint.origin)
        cosigned_size = 0 if last is None else last.size
        logger.error(
            "witness alarm origin=%s kind=%s cosigned_size=%d old_size=%d new_size=%d reason=%s",
            checkpoint.origin,
            kind,
            cosigned_size,
            submission.old_size,
            checkpoint.size,
            reason,
        )
        alarm = Alarm(
            at=self.clock().astimezone(dt.UTC),
            origin=checkpoint.origin,
            kind=kind,
            reason=reason,
            cosigned_size=cosigned_size,
            old_size=submission.old_size,
            new_size=checkpoint.size,
            new_root=checkpoint.root,
            note=submission.note,
        )
        state = with_alarm(self.store.state, alarm)
        if state is not None:
            self.store.write(state)

    def _my_line(self, note: str) -> str:
        _, signatures = split_note(note)
        mine = (self.signer.name, self.signer.key_id)
        return next(s.line() for s in signatures if (s.name, s.key_id) == mine)

    def latest(self, origin: str) -> str | None:
        """The last cosigned checkpoint note for `origin`, or None."""
        log = self.store.state.logs.get(origin)
        return None if log is None else log.note

    def alarms(self) -> list[dict[str, object]]:
        """Every alarm kept, oldest first, as JSON-ready data."""
        return [a.as_dict() for a in self.store.state.alarms]


def _only_by(note: str, keys: Sequence[Ed25519Verifier]) -> str:
    # What the witness keeps and serves: the checkpoint with the log's signatures alone (other
    # witnesses' lines are not this witness's to vouch for, nor to store).
    text, signatures = split_note(note)
    known = {(k.name, k.key_id) for k in keys}
    kept: list[NoteSignature] = [s for s in signatures if (s.name, s.key_id) in known]
    return text + "\n" + "".join(s.line() for s in kept)


def create_witness_app(witness: Witness) -> FastAPI:
    """The witness's ASGI app over `witness`."""
    app = FastAPI(
        title="onshi access-log witness",
        description="A C2SP tlog-witness for the qualification server's access log.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        """The C2SP tlog-witness add-checkpoint call."""
        body = await request.body()
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, body)
        except Refused as refused:
            return refused.response()
        return PlainTextResponse("".join(lines))

    @app.get("/checkpoint")
    def checkpoint(origin: str = Query(max_length=1024)) -> Response:
        """This project's addition: the last cosigned checkpoint note for `origin`."""
        note = witness.latest(origin)
        if note is None:
            return PlainTextResponse("no checkpoint cosigned for that origin\n", status_code=404)
        return PlainTextResponse(note, headers={"Cache-Control": "no-store"})

    @app.get("/alarms")
    def alarms() -> Response:
        """This project's addition: every checkpoint refused as not extending the last one."""
        return JSONResponse(witness.alarms(), headers={"Cache-Control": "no-store"})

    def too_large(_: Request) -> Response:
        return PlainTextResponse("the body is too large\n", status_code=413)

    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, refuse=too_large)
    return app
