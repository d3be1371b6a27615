"""A conformance kit on disk: the kit's own test CAs, a rogue CA, the members the server's
registry must hold, and a face-check device key; and, for each run, fresh cards.

`create_kit` writes it; the server under test is then configured once to trust `issuer/` (the
cards' CA `ca/auth_ca.pem`, the smartphones' CA `ca/phone_auth_ca.pem` as a smartphone CA,
both CRLs, the issuer directory), and its registry reads the issuer's resident register
(`issuer/register.json`, the four items every registration is matched against) and imports
`members.csv`.

Every run issues its own cards (`Kit.start_run`, into `runs/NNNN/cards/`) from the same CAs
for the same people, and records them in the same directory and CRL files: the scenarios
block a PIN, revoke and renew certificates, so a card used by one run would fail the next,
while new cards leave the server's configuration as it is (it reloads the files).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from card_reader.issuance.issuer import DIRECTORY_FORMAT, DirectoryEntry, Issuer
from card_reader.issuance.residents import Resident
from onshi_kernel.files import atomic_write
from onshi_kernel.mynumber import complete_my_number

PIN = "1234"
KIT_FORMAT = "onshi-conformance-kit/1"
DEFAULT_SEED = 20261128  # the residents' My Numbers; kits made before the seed was recorded
RUNS_KEPT = 5  # the latest runs' cards stay on disk, to look at after a failure
INSURER_A = "01130012"  # test numbers with valid check digits
INSURER_B = "131011"  # a 6-digit 国保 number
FAR_LOSS = "21000101"  # a loss date far ahead: checked "as of" a later day it is lost
# The card in its expiry grace: its certificate ended a day before the run that issued it,
# so the `grace` scenario holds however long after `init` the kit is run.
GRACE_CARD = "grace-expired"
GRACE_EXPIRED_AGO = dt.timedelta(days=1)
# The kit's CA starts this long before the kit is made, so it was valid when the grace
# card's certificate began and ended (a server validates such a path as of the certificate's
# end).
CA_BACKDATED = dt.timedelta(days=30)
# The "valid" person's face card (no PIN) and phone; the "grace" person's phone, expired a
# day ago like the grace card, which a phone's certificate gets no grace for.
FACE_CARD = "valid-face"
PHONE = "valid-phone"
EXPIRED_PHONE = "grace-phone"


@dataclass(frozen=True, slots=True)
class Person:
    """A kit resident and the situation the scenarios need them in."""

    label: str
    name: str
    kana: str
    birth: dt.date
    sex: str
    registered: bool = True


PEOPLE = (
    Person("valid", "適合 一郎", "テキゴウ イチロウ", dt.date(1980, 4, 1), "1"),
    Person("several", "適合 花子", "テキゴウ ハナコ", dt.date(1990, 6, 15), "2"),
    Person("ending", "適合 次郎", "テキゴウ ジロウ", dt.date(1970, 1, 20), "1"),
    Person("changed", "適合 三郎", "テキゴウ サブロウ", dt.date(1975, 9, 9), "1"),
    Person("revoked", "適合 四郎", "テキゴウ シロウ", dt.date(1985, 3, 3), "1"),
    Person("renewed", "適合 五郎", "テキゴウ ゴロウ", dt.date(1988, 8, 8), "1"),
    Person("blocked", "適合 六子", "テキゴウ ムツコ", dt.date(1995, 5, 5), "2"),
    Person("unregistered", "適合 七子", "テキゴウ ナナコ", dt.date(2000, 7, 7), "2", False),
    Person("expired", "適合 八郎", "テキゴウ ハチロウ", dt.date(1960, 2, 2), "1"),
    # registered with a valid card; checked with a second one whose certificate is in grace
    Person("grace", "適合 九郎", "テキゴウ クロウ", dt.date(1965, 9, 19), "1"),
    # The last three have no answered qualification to register at the portal with: the
    # first's is held for good, the others' are registered held and released by the
    # insurer-side scenarios, which register them at the portal once answered. They come
    # last, so the residents before keep the My Numbers of kits made before them.
    Person("mislinked", "適合 十子", "テキゴウ トオコ", dt.date(1982, 10, 10), "2", False),
    Person(
        "corrected", "適合 十一郎", "テキゴウ ジュウイチロウ", dt.date(1972, 11, 11), "1", False
    ),
    Person("released", "適合 十二子", "テキゴウ ジュウニコ", dt.date(1992, 12, 12), "2", False),
)

# The 2023 case: an insurer registered an insured number against the My Number of someone
# other than the person it meant. The issuer's four items name the holder otherwise, so the
# registration is held, not answered; the insurer-side scenarios register the same mistake.
MISLINKED_NUMBER = "9921"
OTHER_NAME = "誤登 太郎"
OTHER_KANA = "ゴトウ タロウ"


def person(label: str) -> Person:
    """The kit resident with this label."""
    return next(p for p in PEOPLE if p.label == label)


# A 記号 as 国保 cards print them: half-width kana and a circled digit, both in cp932, so a
# Shift_JIS request carries them as they are.
KOKUHO_SYMBOL = "ｺｸﾎ①"


def member_row(
    resident: Resident, insurer: str, number: str, start: str, **extra: str
) -> dict[str, str]:
    """One row of the registry's member CSV (element names) for a test resident: an insured
    person (本人) with a general card and 3割, issued and valid from the qualification date
    (clinic software needs InsuredCardValidDate), unless `extra` says otherwise."""
    return {
        "InsurerNumber": insurer, "InsuredIdentificationNumber": number,
        "InsuredBranchNumber": "00", "InsuredCardClassification": "01",
        "PersonalFamilyClassification": "1", "Name": resident.name,
        "NameKana": resident.name_kana, "Sex1": resident.sex,
        "Birthdate": resident.birth_date.strftime("%Y%m%d"), "QualificationDate": start,
        "InsuredCertificateIssuanceDate": start, "InsuredCardValidDate": start,
        "InsuredPartialContributionRatio": "030", "MyNumber": resident.my_number, **extra,
    }  # fmt: skip


def write_members_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """The rows as a UTF-8 CSV that `insurer-registry import` reads (absent = empty cell)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _members(residents: dict[str, Resident]) -> list[dict[str, str]]:
    def row(label: str, insurer: str, number: str, start: str, **extra: str) -> dict[str, str]:
        return member_row(residents[label], insurer, number, start, **extra)

    return [
        row("valid", INSURER_A, "9101", "20100401",
            LimitApplicationCertificateClassification="01",
            LimitApplicationCertificateClassificationFlag="A03",
            LimitApplicationCertificateValidStartDate="20200401"),
        row("several", INSURER_A, "9201", "20200101"),
        row("several", INSURER_B, "9202", "20200101"),
        row("ending", INSURER_A, "9301", "20100401", DisqualificationDate=FAR_LOSS,
            ReasonOfLoss="99"),
        row("changed", INSURER_B, "9401", "20000401", DisqualificationDate="20241001",
            ReasonOfLoss="03", InsuredCardSymbol=KOKUHO_SYMBOL),
        row("changed", INSURER_A, "9402", "20241001"),
        row("revoked", INSURER_A, "9501", "20100401"),
        row("renewed", INSURER_A, "9601", "20100401"),
        row("blocked", INSURER_A, "9701", "20100401"),
        row("unregistered", INSURER_A, "9801", "20100401"),
        row("expired", INSURER_A, "9901", "20100401"),
        row("grace", INSURER_A, "9911", "20100401"),
        row("mislinked", INSURER_A, MISLINKED_NUMBER, "20100401", Name=OTHER_NAME,
            NameKana=OTHER_KANA),
    ]  # fmt: skip


def residents_of(seed: int) -> dict[str, Resident]:
    """The kit's residents: the same people (My Numbers from `seed`) in every run."""
    rng = random.Random(seed)  # noqa: S311 - synthetic test residents, reproducible on purpose
    return {
        p.label: Resident(
            label=p.label,
            my_number=complete_my_number(f"{rng.randrange(10**11):011d}"),
            name=p.name,
            name_kana=p.kana,
            birth_date=p.birth,
            sex=p.sex,  # type: ignore[arg-type]
            address="東京都千代田区霞が関一丁目",
        )
        for p in PEOPLE
    }


@dataclass(frozen=True)
class Run:
    """One run's cards, issued for it alone: `runs/NNNN/cards/`."""

    root: Path

    @property
    def number(self) -> int:
        return int(self.root.name)

    def card(self, label: str) -> Path:
        return self.root / "cards" / f"{label}.json"

    def rogue_card(self) -> Path:
        return self.root / "cards" / "rogue-valid.json"


# What a kit directory must hold besides kit.json (the CAs' keys: a run issues cards).
KIT_FILES = (
    "issuer/ca/auth_ca.pem", "issuer/ca/auth_ca.key.pem", "issuer/ca/phone_auth_ca.pem",
    "issuer/ca/phone_auth_ca.key.pem", "issuer/ca/sign_ca.key.pem",
    "issuer/crl/auth_ca.crl", "issuer/crl/phone_auth_ca.crl", "issuer/directory.json",
    "issuer/register.json", "members.csv", "device.key.pem",
)  # fmt: skip


def pseudonym_key_id(key: bytes) -> str:
    """Names the pseudonym key a kit was made with (a hash, not the key): a run with another
    key would record its cards for people the server's registry does not know."""
    return hashlib.sha256(b"onshi-conformance-kit/pseudonym-key\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Kit:
    """An initialised kit directory."""

    root: Path
    seed: int = DEFAULT_SEED
    key_id: str | None = None  # kits made before it was recorded have none

    @property
    def issuer_dir(self) -> Path:
        return self.root / "issuer"

    @property
    def rogue_dir(self) -> Path:
        return self.root / "rogue"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def register_file(self) -> Path:
        """The issuer's resident register (the four items), which the registry reads."""
        return self.issuer_dir / "register.json"

    @property
    def members_csv(self) -> Path:
        return self.root / "members.csv"

    @property
    def device_key_file(self) -> Path:
        return self.root / "device.key.pem"

    def device_key(self) -> Ed25519PrivateKey:
        try:
            key = load_pem_private_key(self.device_key_file.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.device_key_file}: not a device key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.device_key_file} is not an Ed25519 key")
        return key

    def issuer(self, pseudonym_key: bytes) -> Issuer:
        return Issuer.open(self.issuer_dir, pseudonym_key=pseudonym_key)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One run at a time: a run rewrites the directory and CRL files."""
        with (self.root / "run.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(f"another `conformance run` is using {self.root}") from None
            yield

    def start_run(self, pseudonym_key: bytes, *, now: dt.datetime | None = None) -> Run:
        """Issue this run's cards from the kit's CAs (recorded in its directory, which the
        server reloads) into a new `runs/NNNN/`; the oldest runs beyond RUNS_KEPT go."""
        if self.key_id is not None and pseudonym_key_id(pseudonym_key) != self.key_id:
            raise ValueError(
                f"{self.root} was made with another ONSHI_PSEUDONYM_KEY: run with the key of "
                "`conformance init` (the one the server's registry shares)"
            )
        now = now or dt.datetime.now(dt.UTC)
        self.runs_dir.mkdir(exist_ok=True)
        done = sorted(int(d.name) for d in self.runs_dir.iterdir() if d.name.isdigit())
        run = Run(self.runs_dir / f"{(done[-1] if done else 0) + 1:04d}")
        (run.root / "cards").mkdir(parents=True)
        issue_cards(self.issuer(pseudonym_key), residents_of(self.seed), run, now)
        rogue = Issuer.open(self.rogue_dir, pseudonym_key=pseudonym_key)
        path, _ = rogue.issue_card(residents_of(self.seed)["valid"], pin=PIN, overwrite=True)
        path.replace(run.rogue_card())
        for old in done[: max(0, len(done) + 1 - RUNS_KEPT)]:
            shutil.rmtree(self.runs_dir / f"{old:04d}", ignore_errors=True)
        return run

    @classmethod
    def load(cls, root: Path) -> Kit:
        manifest = root / "kit.json"
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{root} is not a conformance kit (run `conformance init`): {exc}"
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != KIT_FORMAT:
            raise ValueError(f"{manifest}: not a conformance kit manifest")
        missing = [name for name in KIT_FILES if not (root / name).is_file()]
        if missing:
            raise ValueError(f"{root}: an incomplete conformance kit, missing {', '.join(missing)}")
        return cls(root, int(doc.get("seed", DEFAULT_SEED)), doc.get("pseudonym_key_id"))


def issue_cards(issuer: Issuer, residents: dict[str, Resident], run: Run, now: dt.datetime) -> None:
    """Every card and phone the scenarios use, new from `issuer`, into `run`'s cards."""

    def into_run(issued: tuple[Path, DirectoryEntry]) -> None:
        issued[0].replace(run.card(issued[0].stem))

    recent = now - dt.timedelta(minutes=5)  # a server whose clock is a little behind accepts it
    # the grace card begins after the CA (backdated at `init`) and ended a day ago
    grace_start = issuer.auth_ca.certificate.not_valid_before_utc + dt.timedelta(days=1)
    for label, resident in residents.items():
        if label == "grace":
            into_run(issuer.issue_card(
                resident.model_copy(update={"label": GRACE_CARD}), pin=PIN, now=now,
                not_before=grace_start, not_after=now - GRACE_EXPIRED_AGO, overwrite=True,
            ))  # fmt: skip
            into_run(issuer.issue_smartphone(
                resident.model_copy(update={"label": "grace"}), pin=PIN, now=now,
                not_before=grace_start, not_after=now - GRACE_EXPIRED_AGO, overwrite=True,
            ))  # fmt: skip
        if label == "valid":
            into_run(issuer.issue_card(
                resident.model_copy(update={"label": FACE_CARD, "card": "face_card"}),
                pin=None, now=now, not_before=recent, overwrite=True,
            ))  # fmt: skip
            into_run(issuer.issue_smartphone(
                resident, pin=PIN, now=now, not_before=recent, overwrite=True
            ))  # fmt: skip
        if label == "expired":
            into_run(issuer.issue_card(
                resident, pin=PIN, now=now, overwrite=True,
                not_before=dt.datetime(2015, 1, 1, tzinfo=dt.UTC),
                not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            ))  # fmt: skip
        else:
            into_run(issuer.issue_card(
                resident, pin=PIN, now=now, not_before=recent, overwrite=True
            ))  # fmt: skip


def create_kit(root: Path, *, pseudonym_key: bytes, seed: int = DEFAULT_SEED) -> Kit:
    """Write a fresh kit into `root` (which must not exist yet): the CAs, the issuer's
    resident register, members.csv and the device key; the cards come with each run."""
    if root.exists():
        raise ValueError(f"{root} exists: choose a new directory for the kit")
    kit = Kit(root, seed, pseudonym_key_id(pseudonym_key))
    now = dt.datetime.now(dt.UTC)
    issuer = Issuer.open(kit.issuer_dir, pseudonym_key=pseudonym_key, now=now - CA_BACKDATED)
    # an empty directory, so that the server under test starts before the first run
    empty = {"format": DIRECTORY_FORMAT, "certificates": [],
             "issuer": issuer.auth_ca.certificate.subject.rfc4514_string()}  # fmt: skip
    atomic_write(issuer.directory_path, json.dumps(empty, indent=1).encode())
    # the register now, not with the first run's cards: the registry matches members.csv
    # against it when it imports the file, which is before any run
    issuer.register_residents(residents_of(seed).values())
    Issuer.open(kit.rogue_dir, pseudonym_key=pseudonym_key)
    write_members_csv(kit.members_csv, _members(residents_of(seed)))
    device = Ed25519PrivateKey.generate()
    atomic_write(
        kit.device_key_file,
        device.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
    )
    public = device.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    manifest = {"format": KIT_FORMAT, "device_public_key": public, "pin": PIN, "seed": seed,
                "pseudonym_key_id": kit.key_id}  # fmt: skip
    atomic_write(root / "kit.json", json.dumps(manifest, indent=1).encode())
    return kit
