"""Front desks checking cards through the balancer, in threads, until told to stop: each
check asks for a challenge, has the emulated card PIN-sign it, and sends the check, as the
front desk does; every check's outcome is kept with when it was sent and answered."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.world import sign_with_card


@dataclass(frozen=True)
class Outcome:
    """What one check saw."""

    challenge_id: str
    status: int  # 0: no HTTP answer at all
    sent: float  # time.monotonic()
    answered: float
    code: str | None = None  # the error's code, if any


def check_body(challenge: dict[str, Any], card: Path) -> dict[str, Any]:
    """A PIN-mode check of `card` over an issued challenge."""
    certificate, signature = sign_with_card(card, challenge["challenge"])
    return {
        "challenge": challenge["challenge"],
        "certificate": certificate,
        "proof": {"method": "pin", "signature": signature},
    }


def error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Load:
    base: str
    headers: dict[str, str]
    cards: list[Path]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, desks: int) -> None:
        self.threads = [threading.Thread(target=self._desk, args=(n,)) for n in range(desks)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> list[Outcome]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads)
        return self.since(0)

    def _desk(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=20, headers=self.headers) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    asked = client.post("/v1/challenges", json={})
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if asked.status_code != 200:
                    time.sleep(0.05)
                    continue
                issued = asked.json()
                body = check_body(issued, self.cards[(n + i) % len(self.cards)])
                sent = time.monotonic()
                try:
                    response = client.post("/v1/eligibility/card", json=body)
                    status, code = response.status_code, error_code(response)
                except httpx.TransportError as error:
                    status, code = 0, type(error).__name__
                with self.lock:
                    self.outcomes.append(
                        Outcome(issued["challenge_id"], status, sent, time.monotonic(), code)
                    )
                if status != 200:
                    time.sleep(0.1)  # what a front desk does before trying again

    def since(self, mark: int) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes[mark:])

    def mark(self) -> int:
        with self.lock:
            return len(self.outcomes)

    def wait_for(self, count: int, timeout_s: float) -> None:
        """Until `count` more checks have been answered 200."""
        mark, deadline = self.mark(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum(o.status == 200 for o in self.since(mark)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(
            f"fewer than {count} answers 200 within {timeout_s} s: "
            f"{[(o.status, o.code) for o in self.since(mark)][-20:]}"
        )
