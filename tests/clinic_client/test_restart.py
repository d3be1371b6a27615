"""No request is lost: what a stopped connector left in `req/` and `work/` is answered once
when it starts again, an answer written just before a crash is not asked for twice, and a
server outage leaves requests waiting instead of answering them with errors."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector, ConnectorBusy, run_connector
from clinic_client.connector.spool import Spool
from qualification_server.lookups import batches
from tests.support.ports import free_port
from tests.support.world import KOKUHO, World

from .conftest import (
    lookups_recorded,
    read_answer,
    request_file,
    run_without_file_powers,
    search_info,
)

pytestmark = pytest.mark.db

POLL_S = 0.02


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(POLL_S)


@contextmanager
def connector_running(
    directory: Path, client: QualificationClient, *, file_powers: bool = True
) -> Iterator[threading.Thread]:
    """`run_connector` in a thread, as `clinic connector` runs it, stopped on leaving.
    Without `file_powers`, the thread meets file permissions even as root."""
    stop = threading.Event()

    def serve() -> None:
        run_connector(directory, client, poll_interval_s=POLL_S, stop=stop, settle_s=0)

    thread = threading.Thread(
        target=serve if file_powers else lambda: run_without_file_powers(serve)
    )
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def yamada(identifier: str) -> bytes:
    return request_file(search_info("1001", "19800401", symbol="記号12"), identifier=identifier)


def test_requests_left_in_req_and_work_are_each_answered_once_after_a_restart(
    tmp_path: Path, world: World, client: QualificationClient
) -> None:
    spool = Spool.open(tmp_path)
    # The connector that stopped had claimed two requests; two more arrived while it was down.
    (spool.work / "OQSsiquc01req_w1.xml").write_bytes(yamada("w1"))
    (spool.work / "OQSmuquc01req_w2.xml").write_bytes(
        request_file(
            search_info("1001", "19800401", symbol="記号12"),
            search_info("2002", "19921115", insurer=KOKUHO.digits),
            identifier="w2",
        )
    )
    (spool.req / "OQSsiquc01req_r1.xml").write_bytes(yamada("r1"))
    (spool.req / "OQSsiquc01req_r2.xml").write_bytes(b"not xml at all")
    expected = [
        "OQSmuquc01res_w2.xml",
        "OQSsiquc01res_r1.xml",
        "OQSsiquc01res_r2.xml",
        "OQSsiquc01res_w1.xml",
    ]
    with connector_running(tmp_path, client):
        wait_for(lambda: names(spool.res) == expected)
        time.sleep(10 * POLL_S)  # a few more passes: nothing is answered again
    assert names(spool.res) == expected
    assert names(spool.req) == [] and names(spool.work) == []
    batches.work(world.deps)  # the server looks w2 up in the background: once
    assert lookups_recorded(world) == 4  # w1, both people of w2, r1; r2 never reached the server
    for request_id in ("w1", "w2", "r1"):
        (answer_path,) = spool.res.glob(f"*res_{request_id}.xml")
        answer = read_answer(answer_path)
        assert answer.text("MessageHeader/ArbitraryFileIdentifier") == request_id
        assert answer.text("MessageHeader/SegmentOfResult") == "1"
    assert (
        read_answer(spool.res / "OQSsiquc01res_r2.xml").text("MessageHeader/ErrorCode") == "C1001"
    )


def test_a_claim_answered_just_before_a_crash_is_not_asked_again(
    spool: Spool, world: World, client: QualificationClient
) -> None:
    claim = spool.work / "OQSsiquc01req_done.xml"
    claim.write_bytes(yamada("done"))
    os.utime(claim, (time.time() - 60, time.time() - 60))
    answered = spool.res / "OQSsiquc01res_done.xml"
    answered.write_bytes(b"the answer written before the crash")
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    assert not claim.exists()
    assert answered.read_bytes() == b"the answer written before the crash"
    assert lookups_recorded(world) == 0


def test_an_answer_older_than_the_claim_belongs_to_an_earlier_request_with_that_id(
    spool: Spool, world: World, client: QualificationClient
) -> None:
    earlier = spool.res / "OQSsiquc01res_same.xml"
    earlier.write_bytes(b"yesterday's answer, not yet collected")
    os.utime(earlier, (time.time() - 86400, time.time() - 86400))
    (spool.work / "OQSsiquc01req_same.xml").write_bytes(yamada("same"))
    assert Connector(spool, client, settle_s=0).run_once().answered == 1
    assert read_answer(earlier).text("MessageBody/QualificationValidity") == "1"
    assert lookups_recorded(world) == 1


def test_an_answer_that_could_not_be_written_is_written_later_without_asking_again(
    tmp_path: Path, world: World, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    # res/ refuses the answer: read-only here, a real refusal by the file system (a full
    # disk fails the same publish at its write instead of its rename; no small file system
    # can be mounted here to fill). Every lookup is an access record: a retry that asked
    # again would record it twice.
    spool = Spool.open(tmp_path)
    (spool.req / "OQSsiquc01req_full.xml").write_bytes(yamada("full"))
    spool.res.chmod(0o555)

    def retries() -> int:
        return sum("still cannot answer" in r.getMessage() for r in caplog.records)

    with (
        caplog.at_level(logging.DEBUG, logger="clinic_client"),
        connector_running(tmp_path, client, file_powers=False),
    ):
        wait_for(lambda: retries() >= 3 or lookups_recorded(world) > 1)
        assert names(spool.res) == [] and names(spool.work) == ["OQSsiquc01req_full.xml"]
        assert lookups_recorded(world) == 1
        spool.res.chmod(0o755)  # the disk has room again
        wait_for(lambda: names(spool.res) == ["OQSsiquc01res_full.xml"])
    assert names(spool.work) == [] and names(spool.tmp) == []
    answer = read_answer(spool.res / "OQSsiquc01res_full.xml")
    assert answer.text("MessageHeader/ArbitraryFileIdentifier") == "full"
    assert answer.text("MessageBody/QualificationValidity") == "1"
    assert lookups_recorded(world) == 1


def test_requests_wait_out_a_server_outage_and_are_answered_after_a_restart(
    tmp_path: Path, world: World, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    down = QualificationClient(f"http://127.0.0.1:{free_port()}", "token", timeout_s=1)
    spool = Spool.open(tmp_path)
    (spool.req / "OQSsiquc01req_o1.xml").write_bytes(yamada("o1"))
    (spool.req / "OQSsiquc01req_o2.xml").write_bytes(yamada("o2"))
    with caplog.at_level(logging.WARNING), connector_running(tmp_path, down):
        wait_for(lambda: "OQSsiquc01req_o1.xml" in names(spool.work))
        time.sleep(10 * POLL_S)  # several attempts against the dead server
    assert names(spool.res) == []  # no error answer for an outage
    assert names(spool.work) + names(spool.req) == ["OQSsiquc01req_o1.xml", "OQSsiquc01req_o2.xml"]
    assert any("cannot answer now" in r.getMessage() for r in caplog.records)

    with connector_running(tmp_path, client):  # the server is back
        wait_for(lambda: len(names(spool.res)) == 2)
    assert names(spool.res) == ["OQSsiquc01res_o1.xml", "OQSsiquc01res_o2.xml"]
    assert names(spool.work) == [] and names(spool.req) == []
    assert lookups_recorded(world) == 2


def test_one_connector_serves_a_directory_at_a_time(
    tmp_path: Path, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="clinic_client"), connector_running(tmp_path, client):
        # "serving" is logged once the first connector holds the lock (the folders
        # appear before it takes it, so they are no sign).
        wait_for(lambda: any("connector serving" in r.getMessage() for r in caplog.records))
        already_stopped = threading.Event()
        already_stopped.set()  # had the lock been free, this one returns instead of serving
        with pytest.raises(ConnectorBusy):
            run_connector(tmp_path, client, stop=already_stopped)


def test_the_log_names_requests_and_codes_never_people(
    spool: Spool, client: QualificationClient, caplog: pytest.LogCaptureFixture
) -> None:
    (spool.req / "OQSsiquc01req_p1.xml").write_bytes(yamada("p1"))
    (spool.req / "OQSsiquc01req_p2.xml").write_bytes(
        request_file(search_info("1001", "19800402", symbol="記号12"))
    )
    (spool.req / "OQSsiquc01req_p3.xml").write_bytes(
        request_file(search_info("1001", "1980040X", symbol="記号12"))
    )
    with caplog.at_level(logging.DEBUG, logger="clinic_client"):
        assert Connector(spool, client, settle_s=0).run_once().answered == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "p1" in logged and "Q4001" in logged and "C1004" in logged
    for personal in ("山田", "ヤマダ", "19800401", "19800402", "1980040X", "記号12", "1001"):
        assert personal not in logged
