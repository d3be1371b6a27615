"""Benchmark: a full PIN-mode check through the real reader stack.

pyscard → pcscd → vpcd → `card-reader emulate` (a separate process), the way a front desk
meets a card: connect, SELECT the JPKI AP, read the auth certificate, VERIFY the PIN, sign a
32-byte challenge digest, disconnect. Prints `name value unit` lines.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from card_reader.core.jpki import JpkiSession
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import load_residents
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY

REPO = Path(__file__).resolve().parents[1]
CHECKS = int(os.environ.get("BENCH_CARD_CHECKS", "300"))
WARMUP = 20


def full_check(readers: PcscReaders, reader: str) -> int:
    connection = readers.connect(reader)
    try:
        session = JpkiSession(connection)
        session.read_auth_certificate()
        session.authenticate("1234", hashlib.sha256(secrets.token_bytes(32)).digest())
    finally:
        connection.close()
    return connection.apdu_count


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-card-"))
    issuer = Issuer.open(workdir, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    resident = load_residents(REPO / "fixtures" / "residents.json")[0]
    card_path, _ = issuer.issue_card(resident, pin="1234")
    script = shutil.which("card-reader", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("card-reader is not installed in this environment")
    with Pcscd():
        readers = PcscReaders()
        reader = vpcd_reader_name(0)
        emulator = subprocess.Popen(
            [script, "emulate", str(card_path), "--slot", "0"], stdout=subprocess.DEVNULL
        )
        try:
            readers.wait_for_card(reader, timeout_s=10)
            for _ in range(WARMUP):
                apdus = full_check(readers, reader)
            times = []
            for _ in range(CHECKS):
                start = time.perf_counter()
                full_check(readers, reader)
                times.append(time.perf_counter() - start)
        finally:
            emulator.send_signal(signal.SIGINT)
            emulator.wait(timeout=10)
            readers.close()
    shutil.rmtree(workdir)
    times.sort()
    print(f"card.full_check.apdus {apdus} apdus")
    print(f"card.full_check.median_ms {statistics.median(times) * 1000:.2f} ms")
    print(f"card.full_check.p95_ms {times[int(len(times) * 0.95)] * 1000:.2f} ms")
    print(f"card.full_check.per_s {len(times) / sum(times):.0f} checks/s")


if __name__ == "__main__":
    main()
