"""`make demo`: the whole flow end to end on the embedded defaults (SQLite, generated
fixtures, an emulated card), then the front desk left running for the newcomer.

1. issue test cards (a fresh test CA) for the residents of fixtures/residents.json
2. register two insurers and import their members into the insurer registry (CSV)
3. register a clinic (its token printed, with how to point `clinic verify`, the connector
   and `conformance run` at it) and a face-reader device key, then start the server
4. run the portal registration (初回登録) for every resident but one, with their cards
5. insert a card into a virtual reader (a real pcscd through vpcd when it is installed,
   otherwise in process, and it says which) and check it at the front desk
6. start the reception terminal and the reader page (face and visual checks proved by the
   device key) and print their addresses; a card's name typed at the prompt swaps the card in
   the reader; Ctrl-C stops everything
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from card_reader.core.jpki import JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import VpcdCardSocket, vpcd_port, vpcd_reader_name
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident, load_residents
from card_reader.pcscd import Pcscd, PcscdError
from card_reader.transports.inprocess import InProcessConnection
from card_reader.transports.pcsc import PcscReaders
from clinic_client.api import QualificationClient, challenge_digest
from clinic_client.conformance.kit import member_row, write_members_csv
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY
from qualification_server.contract.schemas import Consents

REPO = Path(__file__).resolve().parents[1]
# Where it works and listens: var/demo and 8300/8400/8401 unless a test says otherwise.
WORK = Path(os.environ.get("DEMO_WORK", REPO / "var" / "demo"))
BIN = Path(sys.executable).parent
PIN = "1234"
CLINIC = "1310000017"
SERVER_PORT, DESK_PORT, READER_PORT = (
    int(os.environ.get(f"DEMO_{name}_PORT", default)) for name, default in
    (("SERVER", 8300), ("DESK", 8400), ("READER", 8401))
)  # fmt: skip
DEVICE = "face-1"  # the demo terminal's face reader, its key made by `clinic device-key`
KYOKAI, KOKUHO = "01130012", "131011"  # test insurer numbers with valid check digits
UNREGISTERED = "ito-mai"  # left for the newcomer to register at the front desk
RECEPTION_KEY = "demo-reception-key"  # the reader page posts its check-ins with it (local only)


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(*args: str, env: dict[str, str]) -> tuple[str, str]:
    """Run a console script; its stdout and stderr, or stop the demo saying what failed."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr}")
    return done.stdout.strip(), done.stderr.strip()


def member_rows(residents: dict[str, Resident]) -> list[dict[str, str]]:
    """Each resident in a situation worth seeing (fixtures/README.md)."""

    def row(label: str, insurer: str, number: str, start: str, **extra: str) -> dict[str, str]:
        return member_row(residents[label], insurer, number, start, **extra)

    return [
        row("yamada-taro", KYOKAI, "1001", "20100401", InsuredCardSymbol="記号12",
            LimitApplicationCertificateClassification="01",
            LimitApplicationCertificateClassificationFlag="A03",
            LimitApplicationCertificateValidStartDate="20260401"),
        row("suzuki-hanako", KYOKAI, "2001", "20200101"),
        row("suzuki-hanako", KOKUHO, "2002", "20200101"),
        row("tanaka-ichiro", KOKUHO, "3001", "20050401", InsuredPartialContributionRatio="010"),
        row("sato-yui", KYOKAI, "1001", "20160820", InsuredBranchNumber="02",
            InsuredCardSymbol="記号12", PersonalFamilyClassification="2",
            InsuredPartialContributionRatio="020", PreschoolClassification="1"),
        row("kobayashi-ken", KOKUHO, "4001", "20000401", DisqualificationDate="20241001",
            ReasonOfLoss="03"),
        row("kobayashi-ken", KYOKAI, "4002", "20241001"),
        row(UNREGISTERED, KYOKAI, "5001", "20200401"),
    ]  # fmt: skip


@contextlib.contextmanager
def background(*args: str, env: dict[str, str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{args[0]} did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def register_at_portal(base: str, card_path: Path) -> None:
    session = JpkiSession(InProcessConnection(EmulatedCard(load_image(card_path))))
    certificate = session.read_auth_certificate()
    challenge = httpx.post(f"{base}/portal/v1/challenges", json={"purpose": "registration"})
    token = base64.b64decode(challenge.json()["challenge"])
    signature = session.authenticate(PIN, hashlib.sha256(token).digest())
    proof = {
        "challenge": base64.b64encode(token).decode(),
        "certificate": base64.b64encode(certificate).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    answer = httpx.post(f"{base}/portal/v1/registrations", json={"proof": proof, "consent": True})
    if answer.status_code != 200:
        raise SystemExit(f"registration of {card_path.stem} failed: {answer.text}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: everything started is stopped
    started = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    env = {
        **os.environ,
        "ONSHI_ENV": "development",
        "ONSHI_LOG_LEVEL": "WARNING",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    step("issuing test cards (test CA, not J-LIS)")
    issuer = Issuer.open(WORK / "issuer", pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    residents = {r.label: r for r in load_residents(REPO / "fixtures" / "residents.json")}
    for resident in residents.values():
        issuer.issue_card(resident, pin=PIN)
    print(f"    {len(residents)} cards in {os.path.relpath(issuer.root, REPO)}/cards, PIN {PIN}")

    step("insurer registry: two insurers, members imported from CSV")
    # Every registration is matched against the issuer's four items (docs/linkage.md): the
    # registry reads the register the issuer just wrote for these residents.
    registry_env = {
        **env,
        "DATABASE_URL": f"sqlite:///{WORK / 'registry.db'}",
        "ONSHI_RESIDENT_REGISTER_FILES": f'["{issuer.register_path}"]',
    }
    run("insurer-registry", "insurer", "add", KYOKAI, "全国健康保険協会 東京支部", env=registry_env)
    run("insurer-registry", "insurer", "add", KOKUHO, "千代田区国民健康保険", env=registry_env)
    members = WORK / "members.csv"
    write_members_csv(members, member_rows(residents))
    out, err = run("insurer-registry", "import", str(members), env=registry_env)
    print("    " + (out or err).splitlines()[-1])

    step("a mislinked registration: held, then released by the insurer's correction")
    # The failure of 2023: one person's My Number entered on another's row. The registry
    # matches every row against the issuer's four items, holds this one (stored, never
    # answered) and reports it by line and item; the corrected row releases it. A past period,
    # so that today's answers below stay as they are.
    mislinked = member_row(
        residents["ito-mai"], KOKUHO, "7001", "20190401", Name=residents["suzuki-hanako"].name,
        DisqualificationDate="20200401", ReasonOfLoss="99",
    )  # fmt: skip
    for row in (mislinked, {**mislinked, "Name": residents["ito-mai"].name}):
        write_members_csv(members, [row])
        out, err = run("insurer-registry", "import", str(members), env=registry_env)
        for line in (err + "\n" + out).splitlines():
            if line.startswith(("line ", "imported:")):
                print("    " + line.strip())
    members.unlink()  # it held My Numbers: the registry keeps only their keyed hashes

    step("qualification server: a clinic, then the server on SQLite")
    server_env = {
        **env,
        "DATABASE_URL": f"sqlite:///{WORK / 'qualification.db'}",
        "ONSHI_REGISTRY_DATABASE_URL": registry_env["DATABASE_URL"],
        "ONSHI_JPKI_CA_FILES": f'["{issuer.ca_certificate_path(issuer.auth_ca.kind)}"]',
        "ONSHI_JPKI_SMARTPHONE_CA_FILES": (
            f'["{issuer.ca_certificate_path(issuer.phone_ca.kind)}"]'
        ),
        "ONSHI_JPKI_CRL_FILES": json.dumps([str(path) for path in issuer.crl_paths()]),
        "ONSHI_ISSUER_DIRECTORY_FILES": f'["{issuer.directory_path}"]',
    }
    run("qualification-server", "migrate", env=server_env)
    token, _ = run(
        "qualification-server", "clinic", "add", CLINIC, "霞が関クリニック", env=server_env
    )
    device_key = WORK / f"{DEVICE}.pem"
    run("qualification-server", "clinic", "device-key", CLINIC, DEVICE, "--out", str(device_key),
        env=server_env)  # fmt: skip
    base = f"http://127.0.0.1:{SERVER_PORT}"
    print_token(base, token, device_key)
    with background(
        "qualification-server", "serve", "--port", str(SERVER_PORT), env=server_env,
        url=f"{base}/healthz",
    ):  # fmt: skip
        print(f"    serving {base} (OpenAPI at {base}/docs); clinic {CLINIC}")
        step("portal registration (初回登録) with card and PIN")
        for label in residents:
            if label != UNREGISTERED:
                register_at_portal(base, issuer.card_path(label))
        print(
            f"    {len(residents) - 1} registered; {UNREGISTERED} is left to register at the desk"
        )

        reception = f"http://127.0.0.1:{DESK_PORT}"
        desk_env = {
            **env, "ONSHI_CLINIC_SERVER_URL": base, "ONSHI_CLINIC_TOKEN": token,
            "ONSHI_CLINIC_RECEPTION_KEY": RECEPTION_KEY, "ONSHI_CLINIC_RECEPTION_URL": reception,
            "ONSHI_CLINIC_DEVICE_KEY_FILE": str(device_key), "ONSHI_CLINIC_DEVICE_ID": DEVICE,
        }  # fmt: skip
        card_path = issuer.card_path("yamada-taro")
        card = persisted_card(card_path)
        with card_in_reader(card) as (reader_kind, slot):
            step(f"front-desk check of yamada-taro's card ({reader_kind}), PIN mode")
            answer = front_desk_check(base, token, card, reader_kind)
            body = answer.MessageBody
            for r in body.ResultList.ResultOfQualificationConfirmation if body.ResultList else []:
                parts = (r.InsuredCardSymbol, r.InsuredIdentificationNumber, r.InsuredBranchNumber)
                number = "・".join(p for p in parts if p)
                print(f"    {r.Name} ({r.NameKana})  born {r.Birthdate}")
                print(f"    QualificationValidity {body.QualificationValidity}  insurer "
                      f"{r.InsurerNumber.strip()} {r.InsurerName}")  # fmt: skip
                print(f"    {number}  copay {r.InsuredPartialContributionRatio}")
            print(f"    done in {time.perf_counter() - started:.1f} s")
            if os.environ.get("DEMO_NO_WAIT"):
                return
            with (
                background("clinic", "serve", "--port", str(DESK_PORT), env=desk_env,
                           url=f"{reception}/healthz"),
                background("clinic", "reader-serve", "--port", str(READER_PORT), env=desk_env,
                           url=f"http://127.0.0.1:{READER_PORT}/healthz"),
            ):  # fmt: skip
                step(f"reception terminal at {reception}/  (Ctrl-C stops all)")
                print(f"    the patient's reader page: http://127.0.0.1:{READER_PORT}/ "
                      f"(PIN {PIN}, or face / visual: device {DEVICE} is registered)")  # fmt: skip
                with contextlib.suppress(KeyboardInterrupt, EOFError):
                    swap_cards(slot, issuer, sorted(residents))
    step("stopped")


def print_token(base: str, token: str, device_key: Path) -> None:
    """The clinic's credential, and how to point the other front-desk tools at this server."""
    print(f"    clinic {CLINIC}, its token: {token}")
    print("    point the front-desk tools at this server (another terminal, this directory):")
    print(f"      export ONSHI_ENV=development ONSHI_CLINIC_SERVER_URL={base} "
          f"ONSHI_CLINIC_TOKEN={token}")  # fmt: skip
    print(f"      export ONSHI_CLINIC_DEVICE_KEY_FILE={os.path.relpath(device_key, REPO)} "
          f"ONSHI_CLINIC_DEVICE_ID={DEVICE}")  # fmt: skip
    print(f"      clinic verify --pin {PIN}                  # the card in the demo's reader")
    folder = os.path.relpath(WORK / "connector", REPO)
    print(f"      mkdir -p {folder}/req && clinic connector --dir {folder}")
    print(f"      conformance run --kit var/kit --server {base} --clinic-credential {token}")
    print("        (the server must trust the kit first: `conformance init var/kit` says how;")
    print("         this one trusts the demo's test CA only)")


class Slot:
    """The demo's card reader: the vpcd slot and the card in it, which can be swapped."""

    def __init__(self, readers: PcscReaders | None, socket: VpcdCardSocket | None) -> None:
        self.readers = readers
        self.socket = socket

    def swap(self, card: EmulatedCard) -> None:
        """Take the card out, wait a poll period (a faster swap loses the next card, as
        PCSC_NOTES says), and put `card` in."""
        if self.readers is None or self.socket is None:
            raise RuntimeError("the card is in process: no reader to swap it in")
        self.socket.close()
        self.readers.wait_for_removal(vpcd_reader_name(0), timeout_s=5)
        time.sleep(0.5)
        self.socket = VpcdCardSocket(card, slot=0)
        self.socket.start()
        self.readers.wait_for_card(vpcd_reader_name(0), timeout_s=10)


def swap_cards(slot: Slot, issuer: Issuer, labels: list[str]) -> None:
    """Until Ctrl-C: a card's name typed (a line on stdin) puts that card in the reader."""
    if slot.readers is None:
        print("    the card is in process (no pcscd): the desk sees no reader; Ctrl-C stops")
        signal.pause()
    print(f"    in the reader: yamada-taro's card. To put another in, type its name and Enter: "
          f"{', '.join(labels)}")  # fmt: skip
    while True:
        try:
            label = input("card> ").strip()
        except EOFError:  # nothing more to read (no terminal): the reader stays as it is
            print("    (no more input: Ctrl-C stops)")
            signal.pause()
            continue
        if not label:
            continue
        if label not in labels:
            print(f"    no such card; one of: {', '.join(labels)}")
            continue
        slot.swap(persisted_card(issuer.card_path(label)))
        note = " (not registered: register it at the reader page)" if label == UNREGISTERED else ""
        print(f"    {label}'s card is in the reader{note}")


def persisted_card(path: Path) -> EmulatedCard:
    """The card of image `path`, its PIN counters written back as `card-reader emulate` does."""
    return EmulatedCard(load_image(path), on_change=lambda image: save_image(path, image))


@contextlib.contextmanager
def card_in_reader(card: EmulatedCard) -> Iterator[tuple[str, Slot]]:
    try:
        daemon = Pcscd(listen_ports=(vpcd_port(0),))
        daemon.start()
    except PcscdError as exc:
        print(f"    no PC/SC stack ({exc}); the card stays in process")
        yield "in process", Slot(None, None)
        return
    readers, socket = PcscReaders(), VpcdCardSocket(card, slot=0)
    slot = Slot(readers, socket)
    try:
        socket.start()
        readers.wait_for_card(vpcd_reader_name(0), timeout_s=10)
        yield f"pcscd + vpcd, reader {vpcd_reader_name(0)!r}", slot
    finally:
        if slot.socket is not None:
            slot.socket.close()
        readers.close()
        daemon.stop()


def front_desk_check(base: str, token: str, card: EmulatedCard, reader_kind: str):  # type: ignore[no-untyped-def]
    client = QualificationClient(base, token)
    try:
        if reader_kind == "in process":
            session = JpkiSession(InProcessConnection(card))
            certificate = session.read_auth_certificate()
            challenge = client.challenge()
            signature = session.authenticate(PIN, challenge_digest(challenge))
            return client.check_card(
                challenge=challenge, certificate=certificate,
                proof={"method": "pin", "signature": base64.b64encode(signature).decode()},
                consents=Consents(limit_application=True),
            )  # fmt: skip
        from clinic_client.desk import check_card
        from clinic_client.reader import FrontDeskReader

        reader = FrontDeskReader(vpcd_reader_name(0))
        try:
            answer, _ = check_card(
                reader, client, mode="pin", pin=PIN, consents=Consents(limit_application=True)
            )
        finally:
            reader.close()
        return answer
    finally:
        client.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        step("stopped")
