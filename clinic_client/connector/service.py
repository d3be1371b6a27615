"""The run loop: answer what `work/` still holds, then what arrives in `req/`, until stopped.

Each request is claimed (moved into `work/`), answered, its answer published in `res/`, and
only then removed; one the connector refused itself (a `C…` code) is kept in `rejected/`. A
server outage leaves the request in `work/` and the loop backs off; no request is ever
dropped, and none is answered with an error for an outage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clinic_client.api import QualificationClient
from clinic_client.connector.answering import (
    Answer,
    ServerOutage,
    answer_request,
    internal_error_answer,
    refusal,
)
from clinic_client.connector.answers import BatchLayout
from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.logtext import loggable
from clinic_client.connector.names import RequestName
from clinic_client.connector.requests import MAX_REQUEST_BYTES
from clinic_client.connector.spool import NotARegularFile, Spool
from clinic_client.connector.unwritten import UnwrittenAnswers

log = logging.getLogger(__name__)
DEFAULT_SETTLE_S = 0.5  # a request file must sit untouched this long before it is read
MAX_BACKOFF_S = 30.0
PRUNE_EVERY_S = 3600.0  # how often a running connector forgets old batch layouts


@dataclass(frozen=True, slots=True)
class PassReport:
    """One pass over the folders: how many requests were answered, and whether the server
    stopped the pass."""

    answered: int
    outage: ServerOutage | None = None


class Connector:
    """Answers the requests of one directory through one clinic's client."""

    def __init__(
        self,
        spool: Spool,
        client: QualificationClient,
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._spool = spool
        self._client = client
        self._settle_s = settle_s
        self._clock = clock
        self._ignored: set[str] = set()
        # The server's answers whose file could not be written yet: a retry writes them
        # rather than ask again (each lookup is a record in the server's access log).
        self._unwritten = UnwrittenAnswers()
        self._batches = SpoolBatches(spool)

    def run_once(self, stop: threading.Event | None = None) -> PassReport:
        """Answer the claimed requests, oldest first, then the settled ones in `req/`.

        Stops at the first outage: the next request would meet the same server.
        """
        answered = 0
        self._note_ignored()
        for claim in self._spool.claimed():
            if stop is not None and stop.is_set():
                return PassReport(answered)
            if (outage := self._answer(claim, resumed=True)) is not None:
                return PassReport(answered, outage)
            answered += 1
        for request in self._spool.waiting(settle_s=self._settle_s):
            if stop is not None and stop.is_set():
                return PassReport(answered)
            claimed = self._spool.claim(request)
            if claimed is None:
                continue
            if (outage := self._answer(claimed, resumed=False)) is not None:
                return PassReport(answered, outage)
            answered += 1
        return PassReport(answered)

    def _answer(self, claim: Path, *, resumed: bool) -> ServerOutage | None:
        name = RequestName.parse(claim.name)
        # Only a claim found in work/ can have been answered already (a stop between writing
        # the answer and removing the claim); a fresh one always is answered.
        if resumed and self._spool.is_answered(claim, name.answer_name):
            self._spool.finish(claim)
            self._unwritten.forget(claim.name)
            log.info("request %s: answered before the connector stopped", name.label)
            return None
        if not resumed:  # a new request under a name answered before: nothing kept is its
            self._unwritten.forget(claim.name)
        now = self._clock()
        try:
            # One more byte than a request may hold: enough to refuse it (C1006).
            data = self._spool.read_claim(claim, max_bytes=MAX_REQUEST_BYTES + 1)
        except FileNotFoundError:
            self._unwritten.forget(claim.name)
            log.warning("request %s: taken out of work/ before it was answered", name.label)
            return None
        except NotARegularFile as exc:
            # Put in place of a listed request (the listing saw a regular file): refused
            # unread, and moved into rejected/ as it is, so the loop goes on.
            log.warning("request %s: refused, %s in place of a file", name.label, exc.kind)
            answer = self._refusal(name, ConnectorCode.NOT_A_REGULAR_FILE, now)
        except PermissionError as exc:
            # Another user's file the connector may not read: refused, not retried forever.
            # (Other read errors, a share gone offline, are the loop's to retry.)
            log.warning("request %s: cannot be read (%s)", name.label, exc.strerror)
            answer = self._refusal(name, ConnectorCode.UNREADABLE_FILE, now)
        else:
            kept = self._unwritten.find(claim.name, data) if resumed else None
            if kept is not None:
                log.info("request %s: writing the answer kept since writing it failed", name.label)
                answer = kept
            elif isinstance(asked := self._ask(name, data, now), ServerOutage):
                return asked
            else:
                answer = asked
                if not answer.refused_file:  # the server's: kept until its file is written
                    self._unwritten.keep(claim.name, data, answer)
        if answer.refused_file:
            self._spool.keep_rejected(claim)
        self._spool.write_answer(answer.file_name, answer.data)  # an OSError: tried again
        self._unwritten.forget(claim.name)
        self._spool.finish(claim)
        kind = name.kind.value if name.kind else "unknown file"
        log.info("request %s (%s): %s", name.label, kind, answer.outcome)
        if answer.code is not None:
            _log_refused(name, kind, answer, self._client.clinic_code)
        return None

    def _ask(self, name: RequestName, data: bytes, now: dt.datetime) -> Answer | ServerOutage:
        """The answer to the request's bytes, through the server; the outage if it waits."""
        try:
            return answer_request(name, data, self._client, now=now, batches=self._batches)
        except ServerOutage as outage:
            log.debug("request %s waits: %s", name.label, loggable(outage.reason))
            return outage
        except Exception as exc:
            # One file never stops the loop, and never goes unanswered. The message may
            # quote personal data (a server answer that failed validation): log where.
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error("request %s: unexpected %s\n%s", name.label, type(exc).__name__, where)
            return internal_error_answer(name, clinic_code=self._client.clinic_code, now=now)

    def _refusal(self, name: RequestName, code: ConnectorCode, now: dt.datetime) -> Answer:
        return refusal(name, RequestRejected(code), clinic_code=self._client.clinic_code, now=now)

    def _note_ignored(self) -> None:
        """Warn once about each stray name in `req/` while it stays there."""
        present = self._spool.ignored()
        for file_name in sorted(present - self._ignored):
            log.warning("req/%s is not a request file (*.xml): left alone", loggable(file_name))
        self._ignored = present


@dataclass(frozen=True, slots=True)
class SpoolBatches:
    """The batches' layouts, kept in the spool's `batches/` (see `answering.BatchStore`)."""

    spool: Spool

    def keep(self, reception_number: str, layout: BatchLayout) -> None:
        self.spool.keep_batch(reception_number, layout.to_json())

    def kept(self, reception_number: str) -> BatchLayout | None:
        data = self.spool.kept_batch(reception_number)
        return BatchLayout.from_json(data) if data is not None else None


def _log_refused(name: RequestName, kind: str, answer: Answer, clinic_code: str | None) -> None:
    """One WARNING line for IT per refused request: the connector's code for a file it refused
    itself (`C…`, the file kept in rejected/), the server's for a check it refused (`Q…`), with
    the file name as it came (escaped onto one line) and the clinic. Never the file's content."""
    log.warning(
        "request %s code=%s file=%s kind=%s clinic=%s",
        "file refused" if answer.refused_file else "refused by the server",
        answer.code, loggable(name.file_name), kind, clinic_code or "-",
    )  # fmt: skip


def run_connector(
    directory: Path,
    client: QualificationClient,
    *,
    poll_interval_s: float = 0.5,
    stop: threading.Event | None = None,
    settle_s: float = DEFAULT_SETTLE_S,
) -> None:
    """Serve the receipt computer's folders under `directory` until `stop` is set (forever
    without one). Requests left in `work/` by an earlier run are answered first.

    Raises `ConnectorBusy` if another connector serves `directory`, `NotADirectoryError` if
    it does not exist.
    """
    if poll_interval_s <= 0:
        raise ValueError("poll_interval_s must be positive")
    stop = stop or threading.Event()
    spool = Spool.open(directory)
    with spool.lock():
        spool.remove_stale_temporaries()
        spool.remove_old_batches()
        pruned_at = time.monotonic()
        resumed = len(spool.claimed())
        log.info("connector serving %s; %d requests to resume", loggable(str(directory)), resumed)
        connector = Connector(spool, client, settle_s=settle_s)
        failures = 0
        while not stop.is_set():
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                with contextlib.suppress(OSError):  # tried again at the next hour
                    spool.remove_old_batches()
                pruned_at = time.monotonic()
            try:
                report = connector.run_once(stop)
                trouble = report.outage.reason if report.outage else None
            except OSError as exc:  # a folder gone, a full disk, a share offline: try again
                trouble = f"{type(exc).__name__}: {exc.strerror}"
            if trouble is None and failures:
                log.warning("answering again after %d failed attempts", failures)
                failures = 0
            elif trouble is not None:
                if failures == 0:
                    log.warning(
                        "cannot answer now (%s); requests wait, retrying", loggable(trouble)
                    )
                else:
                    log.debug("still cannot answer (%s): attempt %d", loggable(trouble), failures)
                failures += 1
            stop.wait(_delay(poll_interval_s, failures))
    log.info("connector stopped")


def _delay(poll_interval_s: float, failures: int) -> float:
    """The poll interval, doubled for each failed attempt in a row, up to 30 s."""
    return min(poll_interval_s * 2.0 ** min(failures, 16), max(MAX_BACKOFF_S, poll_interval_s))
