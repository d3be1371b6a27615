"""Benchmark: a full PIN-mode check through the real reader stack.

pyscard → pcscd → vpcd → `card-reader emulate` (a separate process), the way a front desk
meets a card: connect, SELECT the JPKI AP, read the auth certificate, VERIFY the PIN, sign a
32-byte challenge digest, disconnect. Prints `name value unit` lines.

Its floor, measured in the same run and the same reader session, in rounds that alternate
with the checks: one APDU round trip (SELECT of the JPKI AP on a connection already open:
the cheapest command, no data back) times the number of APDUs the check sends, plus the
emulator's signature (the card's key signing a SHA-256 DigestInfo as the emulator does,
timed in this process). `card.full_check.floor_ratio` is the check's mean over the floor's
(`_median` beside it): what connecting, disconnecting, the larger commands, the emulator's
other work (its PIN comparison, printed) and the client's own work add.
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

from card_reader.core.apdu import CommandApdu
from card_reader.core.jpki import AID_JPKI, JpkiSession, sha256_digest_info
from card_reader.emulator.card import _load_rsa_key, _pkcs1_v15_sign
from card_reader.emulator.image import CardImage, load_image
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import load_residents
from card_reader.pcscd import Pcscd
from card_reader.transports.pcsc import PcscReaders
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY

REPO = Path(__file__).resolve().parents[1]
CHECKS = int(os.environ.get("BENCH_CARD_CHECKS", "300"))
WARMUP = 20
ROUNDS = 3  # checks, round trips and signatures alternate in this many rounds
# SELECT DF by name, no response data (00 A4 04 0C): what JpkiSession sends first
SELECT_JPKI = CommandApdu(0x00, 0xA4, 0x04, 0x0C, AID_JPKI).to_bytes()


def full_check(readers: PcscReaders, reader: str) -> int:
    connection = readers.connect(reader)
    try:
        session = JpkiSession(connection)
        session.read_auth_certificate()
        session.authenticate("1234", hashlib.sha256(secrets.token_bytes(32)).digest())
    finally:
        connection.close()
    return connection.apdu_count


def round_trips(readers: PcscReaders, reader: str, n: int) -> list[float]:
    """Seconds each of `n` SELECTs of the JPKI AP takes on one open connection."""
    connection = readers.connect(reader)
    try:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            _, sw = connection.send_and_receive(SELECT_JPKI)
            times.append(time.perf_counter() - start)
            if sw != 0x9000:
                raise SystemExit(f"SELECT of the JPKI AP answered {sw:04X}")
    finally:
        connection.close()
    return times


def connects(readers: PcscReaders, reader: str, n: int) -> list[float]:
    """Seconds each of `n` connections takes to open and close, sending nothing."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        readers.connect(reader).close()
        times.append(time.perf_counter() - start)
    return times


def signatures(key_pem: bytes, n: int) -> list[float]:
    """Seconds each of `n` signatures takes, made as the emulator makes them."""
    key = _load_rsa_key(key_pem)
    times = []
    for _ in range(n):
        payload = sha256_digest_info(hashlib.sha256(secrets.token_bytes(32)).digest())
        start = time.perf_counter()
        _pkcs1_v15_sign(key, payload)
        times.append(time.perf_counter() - start)
    return times


def pin_checks(image: CardImage, n: int) -> list[float]:
    """Seconds each of `n` PIN comparisons takes, as the emulator's VERIFY makes them."""
    states = list(image.pins.values())
    times = []
    for _ in range(n):
        start = time.perf_counter()
        states[0].matches(b"1234")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-card-"))
    issuer = Issuer.open(workdir, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    resident = load_residents(REPO / "fixtures" / "residents.json")[0]
    card_path, _ = issuer.issue_card(resident, pin="1234")
    image = load_image(card_path)
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
            round_trips(readers, reader, WARMUP)
            times: list[float] = []
            rtts: list[float] = []
            signs: list[float] = []
            opens: list[float] = []
            pins: list[float] = []
            for _ in range(ROUNDS):
                for _ in range(CHECKS // ROUNDS):
                    start = time.perf_counter()
                    full_check(readers, reader)
                    times.append(time.perf_counter() - start)
                rtts += round_trips(readers, reader, CHECKS // ROUNDS * 2)
                signs += signatures(image.auth_key_pem, CHECKS // ROUNDS)
                opens += connects(readers, reader, CHECKS // ROUNDS)
                pins += pin_checks(image, CHECKS // ROUNDS)
        finally:
            emulator.send_signal(signal.SIGINT)
            try:
                emulator.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a busy machine: its figures are taken already
                emulator.kill()
                emulator.wait()
            readers.close()
    shutil.rmtree(workdir)
    times.sort()
    # Means add up (a check is its APDUs one after another); medians do not when a busy
    # machine puts a long tail under every round trip, so the ratio is taken of means, and
    # of medians beside it.
    floor = statistics.mean(rtts) * apdus + statistics.mean(signs)
    floor_median = statistics.median(rtts) * apdus + statistics.median(signs)
    print(f"card.full_check.apdus {apdus} apdus")
    print(f"card.full_check.median_ms {statistics.median(times) * 1000:.2f} ms")
    print(f"card.full_check.mean_ms {statistics.mean(times) * 1000:.2f} ms")
    print(f"card.full_check.p95_ms {times[int(len(times) * 0.95)] * 1000:.2f} ms")
    print(f"card.apdu.round_trip_mean_ms {statistics.mean(rtts) * 1000:.3f} ms")
    print(f"card.apdu.round_trip_median_ms {statistics.median(rtts) * 1000:.3f} ms")
    print(f"card.emulator.sign_median_ms {statistics.median(signs) * 1000:.3f} ms")
    print(f"card.emulator.sign_mean_ms {statistics.mean(signs) * 1000:.3f} ms")
    # not in the floor: what a check pays besides its APDUs and the signature
    print(f"card.connect_close_mean_ms {statistics.mean(opens) * 1000:.3f} ms")
    print(f"card.emulator.pin_check_mean_ms {statistics.mean(pins) * 1000:.3f} ms")
    print(f"card.full_check.floor_ms {floor * 1000:.2f} ms")
    print(f"card.full_check.floor_ratio {statistics.mean(times) / floor:.2f} ratio")
    median_ratio = statistics.median(times) / floor_median
    print(f"card.full_check.floor_ratio_median {median_ratio:.2f} ratio")
    print(f"card.full_check.per_s {len(times) / sum(times):.0f} checks/s")


if __name__ == "__main__":
    main()
