"""Fixtures for the card layer: issued test cards, the emulator, and a real pcscd + vpcd."""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import VpcdCardSocket, vpcd_reader_name
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident, load_residents
from card_reader.pcscd import Pcscd
from card_reader.transports.inprocess import InProcessConnection
from card_reader.transports.pcsc import PcscReaders
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY

REPO = Path(__file__).resolve().parents[2]
PIN = "1234"
SIGN_PASSWORD = "TESTPASS1"

# Each issuer directory a session made, opened once: loading a CA's RSA key checks it, which
# costs more than copying the whole directory, and every copy holds the same keys.
_OPENED: dict[Path, Issuer] = {}


def issuer_copy(template: Path, root: Path) -> Issuer:
    """A private copy of the issuer directory `template` at `root`, open: what
    `Issuer.open(root)` gives, its keys the template's (loaded once a session)."""
    shutil.copytree(template, root)
    opened = _OPENED.get(template)
    if opened is None:
        opened = _OPENED[template] = Issuer.open(template, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    issuer = copy.copy(opened)
    issuer.root = root
    # Everything else an issuer holds is its keys: nothing that names where it lives.
    assert not any(isinstance(v, Path) for k, v in vars(issuer).items() if k != "root")
    return issuer


@pytest.fixture(scope="session")
def resident_list() -> list[Resident]:
    return load_residents(REPO / "fixtures" / "residents.json")


@pytest.fixture(scope="session")
def issuer_dir(tmp_path_factory: pytest.TempPathFactory, resident_list: list[Resident]) -> Path:
    """An issuer directory with cards for the first two residents (issued once per run)."""
    root = tmp_path_factory.mktemp("issuer")
    issuer = Issuer.open(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    for resident in resident_list[:2]:
        issuer.issue_card(resident, pin=PIN, sign_password=SIGN_PASSWORD)
    return root


@pytest.fixture
def issuer(issuer_dir: Path, tmp_path: Path) -> Issuer:
    """A private copy of the issuer directory, free to revoke and renew in."""
    return issuer_copy(issuer_dir, tmp_path / "issuer")


@pytest.fixture
def card_path(issuer_dir: Path, tmp_path: Path) -> Path:
    """A private copy of yamada-taro's card image (PIN 1234)."""
    path = tmp_path / "card.json"
    shutil.copy(issuer_dir / "cards" / "yamada-taro.json", path)
    return path


@pytest.fixture
def card(card_path: Path) -> EmulatedCard:
    """The emulated card, persisting its counters to `card_path` like `card-reader emulate`."""
    return EmulatedCard(load_image(card_path), on_change=lambda i: save_image(card_path, i))


@pytest.fixture
def connection(card: EmulatedCard) -> InProcessConnection:
    return InProcessConnection(card)


# --- the real reader stack ----------------------------------------------------------------


@pytest.fixture
def readers(pcscd: Pcscd) -> Iterator[PcscReaders]:
    pcsc = PcscReaders()
    yield pcsc
    pcsc.close()


class InsertedCard:
    """An emulated card in a vpcd slot of the real pcscd."""

    # PCSC_NOTES: swapping cards faster than a poll period loses the next card. The wait is
    # owed by the next insertion, not paid at every removal: a test's last removal is
    # mostly followed by the next test's set-up, which takes longer than that anyway.
    SETTLE_S = 0.5
    _removed_at = -SETTLE_S  # time.monotonic() of the last removal

    def __init__(self, card: EmulatedCard, readers: PcscReaders, slot: int = 0) -> None:
        self.card = card
        self.reader = vpcd_reader_name(slot)
        self.readers = readers
        self.socket = VpcdCardSocket(card, slot=slot)

    def insert(self) -> None:
        self.settle()
        self.socket = VpcdCardSocket(self.card, slot=self.socket.slot)
        self.socket.start()
        self.readers.wait_for_card(self.reader, timeout_s=5)

    def remove(self) -> None:
        self.socket.close()
        assert self.readers.wait_for_removal(self.reader, timeout_s=5)
        InsertedCard._removed_at = time.monotonic()

    @staticmethod
    def settle() -> None:
        """Wait until a poll period has passed since the last card left its reader."""
        rest = InsertedCard._removed_at + InsertedCard.SETTLE_S - time.monotonic()
        if rest > 0:
            time.sleep(rest)


@pytest.fixture(autouse=True)
def _settled_reader(request: pytest.FixtureRequest) -> None:
    """A test of the reader stack starts a poll period after the last removal, however it
    inserts its cards (`card-reader emulate` too)."""
    if request.node.get_closest_marker("pcsc") is not None:
        InsertedCard.settle()


@pytest.fixture
def inserted(card: EmulatedCard, readers: PcscReaders) -> Iterator[InsertedCard]:
    slot = InsertedCard(card, readers)
    slot.insert()
    yield slot
    if readers.card_present(slot.reader):
        slot.remove()
