"""Background upkeep of each server instance: seal the access log and sign and witness its
checkpoints, drop spent challenges and old 目視確認用パスコード, share the newest CRL marks
with the other instances."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from qualification_server.access_log import log as access_log
from qualification_server.cards.passcodes import prune_visual_passcodes
from qualification_server.db import database_now
from qualification_server.models import UsedChallenge
from qualification_server.trust import rollback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from qualification_server.access_log.checkpoints import Checkpointer
    from qualification_server.trust.rollback import CrlHighWater

log = logging.getLogger(__name__)
# A used challenge must be kept while it could still be presented: until it expires.
USED_CHALLENGE_GRACE = dt.timedelta(minutes=1)


def prune_used_challenges(session: Session) -> int:
    """Forget used challenges that expired by the database's clock (they are refused as
    expired by it anyway, see `check_record`). Never by this instance's own clock: one that
    runs fast would forget challenges another instance could still be shown (a replay)."""
    expired = database_now(
        session.get_bind().dialect.name, -int(USED_CHALLENGE_GRACE.total_seconds())
    )
    result = session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < expired))
    return int(getattr(result, "rowcount", 0) or 0)


class Housekeeper:
    """Seals the access log every `interval_s`, prunes used challenges and syncs the CRL
    marks (`trust.rollback`), in a thread; with `checkpoints`, signs and witnesses the log's
    checkpoints at their own interval in a second thread (a slow witness never delays
    sealing)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        interval_s: float = 0.5,
        *,
        crl_marks: CrlHighWater | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self._sessions = sessions
        self._crl_marks = crl_marks
        self._checkpoints = checkpoints
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._checkpoint_thread = threading.Thread(
            target=self._run_checkpoints, name="log-checkpoints", daemon=True
        )

    def start(self) -> None:
        """Start the background threads."""
        self._thread.start()
        if self._checkpoints is not None:
            self._checkpoint_thread.start()

    def stop(self) -> None:
        """Stop them, sealing (and checkpointing) what is left."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self._checkpoint_thread.is_alive():
            self._checkpoint_thread.join(timeout=30)
        try:
            self.seal_now()
            if self._checkpoints is not None:
                self._checkpoints.sign_now()
        except SQLAlchemyError as exc:
            log.warning("final sealing failed (the next instance will seal): %s", exc)

    def seal_now(self) -> int:
        """Seal one batch of the access log; how many records."""
        with self._sessions() as session, session.begin():
            return access_log.seal(session)

    def prune_now(self) -> int:
        """Used challenges and passcodes no longer needed; how many were removed."""
        with self._sessions() as session, session.begin():
            return prune_used_challenges(session) + prune_visual_passcodes(session)

    def sync_crl_marks_now(self) -> bool:
        """Merge this instance's CRL marks with the database's; True if one of ours rose."""
        if self._crl_marks is None:
            return False
        with self._sessions() as session, session.begin():
            return rollback.sync(session, self._crl_marks)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(self._interval):
            rounds += 1
            self._guarded("sealing", self._seal_all)
            if rounds % 10 == 0:  # every few seconds: a rollback elsewhere shows here
                self._guarded("syncing the CRL marks", self.sync_crl_marks_now)
            if rounds % 120 == 0:  # about once a minute
                self._guarded("pruning used challenges", self.prune_now)

    def _run_checkpoints(self) -> None:
        checkpoints = self._checkpoints
        if checkpoints is None:
            return
        while not self._stop.wait(checkpoints.interval_s):
            self._guarded("checkpointing the access log", checkpoints.run_once)

    def _seal_all(self) -> None:
        while self.seal_now() == access_log.SEAL_BATCH:
            pass

    @staticmethod
    def _guarded(what: str, task: Callable[[], object]) -> None:
        """One task's failure does not skip the others (each resumes with the database)."""
        try:
            task()
        except SQLAlchemyError as exc:
            log.warning("housekeeping: %s failed: %s", what, type(exc).__name__)
