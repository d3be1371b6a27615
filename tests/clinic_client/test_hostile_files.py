"""What a writer to `req/` can put in the connector's way: a listed request swapped for a
symbolic link, a FIFO, a folder or a device between the connector's listing and its read.
Each is refused with C1010 unread (a link is never followed), kept in `rejected/` as it is,
and the requests after it are still answered."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_client.api import QualificationClient
from clinic_client.connector import Connector
from clinic_client.connector.service import PassReport
from clinic_client.connector.spool import Spool
from tests.support.world import World

from .conftest import lookups_recorded, read_answer, request_file, search_info

pytestmark = pytest.mark.db

Swap = Callable[[Path], None]


def swapping_spool(root: Path, swaps: dict[str, Swap]) -> Spool:
    """A spool over `root` in which each file named in `swaps` is replaced, by `swaps[name]`,
    right after the connector has listed it as a regular request file and before it claims
    and reads it: the race a writer to `req/` can win."""

    class Swapping(Spool):
        def waiting(self, *, settle_s: float) -> list[Path]:
            listed = super().waiting(settle_s=settle_s)
            for path in listed:
                if (swap := swaps.get(path.name)) is not None:
                    path.unlink()
                    swap(path)
            return listed

    return Swapping.open(root)


def yamada(identifier: str) -> bytes:
    return request_file(search_info("1001", "19800401", symbol="記号12"), identifier=identifier)


def put_oldest_first(spool: Spool, files: dict[str, bytes]) -> None:
    """Write the requests into `req/`, each older than the next (the order they are read)."""
    for age, (file_name, data) in enumerate(reversed(files.items()), 1):
        path = spool.req / file_name
        path.write_bytes(data)
        os.utime(path, ns=(path.stat().st_mtime_ns - age * 10**9,) * 2)


def assert_refused(spool: Spool, answer_name: str, code: str) -> None:
    found = read_answer(spool.res / answer_name)
    assert found.text("MessageHeader/SegmentOfResult") == "9"
    assert found.text("MessageHeader/ErrorCode") == code
    assert found.text("MessageBody/ProcessingResultCode") == code
    assert found.text("MessageBody/QualificationValidity") is None


def test_a_request_swapped_for_a_link_is_refused_and_the_link_never_followed(
    tmp_path: Path, world: World, client: QualificationClient
) -> None:
    outside = tmp_path / "outside.xml"  # a valid request the connector must never read
    outside.write_bytes(yamada("outside"))
    (tmp_path / "oqs").mkdir()
    spool = swapping_spool(
        tmp_path / "oqs", {"OQSsiquc01req_s1.xml": lambda p: p.symlink_to(outside)}
    )
    put_oldest_first(spool, {"OQSsiquc01req_s1.xml": yamada("s1")})

    report = Connector(spool, client, settle_s=0).run_once()

    assert report == PassReport(1)
    assert_refused(spool, "OQSsiquc01res_s1.xml", "C1010")
    answer = read_answer(spool.res / "OQSsiquc01res_s1.xml")
    assert answer.text("MessageHeader/ArbitraryFileIdentifier") is None  # nothing of it read
    assert lookups_recorded(world) == 0
    # The link itself is kept, not what it points to; the file outside is as it was.
    (kept,) = spool.rejected.iterdir()
    assert kept.name == "OQSsiquc01req_s1.xml" and kept.is_symlink()
    assert os.readlink(kept) == str(outside)
    assert outside.read_bytes() == yamada("outside") and outside.stat().st_nlink == 1
    assert list(spool.work.iterdir()) == [] and list(spool.req.iterdir()) == []


def test_a_request_swapped_for_a_fifo_is_refused_and_the_next_request_still_answered(
    tmp_path: Path, client: QualificationClient
) -> None:
    spool = swapping_spool(tmp_path, {"OQSsiquc01req_f1.xml": lambda p: os.mkfifo(p)})
    put_oldest_first(
        spool, {"OQSsiquc01req_f1.xml": yamada("f1"), "OQSsiquc01req_f2.xml": yamada("f2")}
    )

    report = run_once_within(Connector(spool, client, settle_s=0), spool, timeout_s=20)

    assert report == PassReport(2)
    assert_refused(spool, "OQSsiquc01res_f1.xml", "C1010")
    after = read_answer(spool.res / "OQSsiquc01res_f2.xml")
    assert after.text("MessageBody/QualificationValidity") == "1"
    (kept,) = spool.rejected.iterdir()
    assert kept.name == "OQSsiquc01req_f1.xml" and stat.S_ISFIFO(kept.lstat().st_mode)
    assert list(spool.work.iterdir()) == [] and list(spool.req.iterdir()) == []


def test_a_link_left_in_work_by_a_stopped_connector_is_refused_and_kept_not_followed(
    tmp_path: Path, world: World, client: QualificationClient
) -> None:
    # The connector that stopped had claimed a swapped request and not yet answered it.
    outside = tmp_path / "outside.xml"
    outside.write_bytes(yamada("outside"))
    (tmp_path / "oqs").mkdir()
    spool = Spool.open(tmp_path / "oqs")
    (spool.work / "OQSsiquc01req_w1.xml").symlink_to(outside)

    assert Connector(spool, client, settle_s=0).run_once() == PassReport(1)

    assert_refused(spool, "OQSsiquc01res_w1.xml", "C1010")
    assert lookups_recorded(world) == 0
    assert [p.name for p in spool.rejected.iterdir() if p.is_symlink()] == ["OQSsiquc01req_w1.xml"]
    assert list(spool.work.iterdir()) == [] and outside.read_bytes() == yamada("outside")


def _make_device(path: Path) -> None:
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        # CI runs as root and must run it; only a developer without CAP_MKNOD may skip it.
        if os.environ.get("CI") == "true":
            pytest.fail("creating a device needs CAP_MKNOD, which CI has as root")
        pytest.skip("creating a device needs CAP_MKNOD")


@pytest.mark.parametrize("swap", [lambda p: p.mkdir(), _make_device], ids=["a folder", "a device"])
def test_a_request_swapped_for_a_folder_or_a_device_is_refused_and_kept(
    tmp_path: Path, client: QualificationClient, swap: Swap
) -> None:
    spool = swapping_spool(tmp_path, {"OQSsiquc01req_d1.xml": swap})
    put_oldest_first(
        spool, {"OQSsiquc01req_d1.xml": yamada("d1"), "OQSsiquc01req_d2.xml": yamada("d2")}
    )

    report = run_once_within(Connector(spool, client, settle_s=0), spool, timeout_s=20)

    assert report == PassReport(2)
    assert_refused(spool, "OQSsiquc01res_d1.xml", "C1010")
    assert (
        read_answer(spool.res / "OQSsiquc01res_d2.xml").text("MessageBody/QualificationValidity")
        == "1"
    )
    assert [p.name for p in spool.rejected.iterdir()] == ["OQSsiquc01req_d1.xml"]


def run_once_within(connector: Connector, spool: Spool, *, timeout_s: float) -> PassReport:
    """One pass, which must end within `timeout_s`. A pass stuck opening a FIFO is freed
    (a writer opens the FIFO, so the read ends) before the test fails, so no thread is
    left behind."""
    reports: list[PassReport] = []
    thread = threading.Thread(target=lambda: reports.append(connector.run_once()))
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        for fifo in (p for p in spool.work.iterdir() if stat.S_ISFIFO(p.lstat().st_mode)):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(f"the pass did not end within {timeout_s} s")
    (report,) = reports
    return report
