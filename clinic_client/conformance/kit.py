"""A conformance kit on disk: test cards from the kit's own test CA, a rogue CA's card, the
members the server's registry must hold, and a face-check device key.

`create_kit` writes it; the server under test is then configured to trust `issuer/` (the
cards' CA `ca/auth_ca.pem`, the smartphones' CA `ca/phone_auth_ca.pem` as a smartphone CA,
both CRLs, the issuer directory) and its registry imports `members.csv`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
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

from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from onshi_kernel.files import atomic_write
from onshi_kernel.mynumber import complete_my_number

PIN = "1234"
KIT_FORMAT = "onshi-conformance-kit/1"
INSURER_A = "01130012"  # test numbers with valid check digits
INSURER_B = "131011"  # a 6-digit 国保 number
FAR_LOSS = "21000101"  # a loss date far ahead: checked "as of" a later day it is lost
# The card in its expiry grace: its certificate ended a day before the kit was made, so the
# kit's `grace` scenario holds for about three months (the server's grace) after `init`.
GRACE_CARD = "grace-expired"
GRACE_EXPIRED_AGO = dt.timedelta(days=1)
# The kit's CA starts this long before the kit is made, so it was valid when the grace
# card's certificate ended (a server validates such a path as of the certificate's end).
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
)


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
    ]  # fmt: skip


@dataclass(frozen=True)
class Kit:
    """An initialised kit directory."""

    root: Path

    @property
    def issuer_dir(self) -> Path:
        return self.root / "issuer"

    @property
    def rogue_dir(self) -> Path:
        return self.root / "rogue"

    @property
    def members_csv(self) -> Path:
        return self.root / "members.csv"

    @property
    def device_key_file(self) -> Path:
        return self.root / "device.key.pem"

    def card(self, label: str) -> Path:
        return self.issuer_dir / "cards" / f"{label}.json"

    def rogue_card(self) -> Path:
        return self.rogue_dir / "cards" / "valid.json"

    def device_key(self) -> Ed25519PrivateKey:
        key = load_pem_private_key(self.device_key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.device_key_file} is not an Ed25519 key")
        return key

    def issuer(self, pseudonym_key: bytes) -> Issuer:
        return Issuer.open(self.issuer_dir, pseudonym_key=pseudonym_key)

    @classmethod
    def load(cls, root: Path) -> Kit:
        manifest = root / "kit.json"
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{root} is not a conformance kit (run `conformance init`): {exc}"
            ) from None
        if doc.get("format") != KIT_FORMAT:
            raise ValueError(f"{manifest}: not a conformance kit manifest")
        return cls(root)


def create_kit(root: Path, *, pseudonym_key: bytes, seed: int = 20261128) -> Kit:
    """Write a fresh kit into `root` (which must not exist yet)."""
    if root.exists():
        raise ValueError(f"{root} exists: choose a new directory for the kit")
    rng = random.Random(seed)  # noqa: S311 - synthetic test residents, reproducible on purpose
    residents = {
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
    kit = Kit(root)
    now = dt.datetime.now(dt.UTC)
    issuer = Issuer.open(kit.issuer_dir, pseudonym_key=pseudonym_key, now=now - CA_BACKDATED)
    for label, resident in residents.items():
        if label == "grace":
            issuer.issue_card(
                resident.model_copy(update={"label": GRACE_CARD}), pin=PIN,
                not_before=now - CA_BACKDATED + dt.timedelta(days=1),
                not_after=now - GRACE_EXPIRED_AGO,
            )  # fmt: skip
            issuer.issue_smartphone(
                resident.model_copy(update={"label": "grace"}), pin=PIN,
                not_before=now - CA_BACKDATED + dt.timedelta(days=1),
                not_after=now - GRACE_EXPIRED_AGO,
            )  # fmt: skip
        if label == "valid":
            recent = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            issuer.issue_card(
                resident.model_copy(update={"label": FACE_CARD, "card": "face_card"}),
                pin=None, not_before=recent,
            )  # fmt: skip
            issuer.issue_smartphone(resident, pin=PIN, not_before=recent)
        if label == "expired":
            issuer.issue_card(
                resident, pin=PIN,
                not_before=dt.datetime(2015, 1, 1, tzinfo=dt.UTC),
                not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            )  # fmt: skip
        else:
            # a minute in the past, so a server whose clock is slightly behind accepts it
            issuer.issue_card(
                resident, pin=PIN,
                not_before=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
            )  # fmt: skip
    rogue = Issuer.open(kit.rogue_dir, pseudonym_key=pseudonym_key)
    rogue.issue_card(residents["valid"], pin=PIN)
    write_members_csv(kit.members_csv, _members(residents))
    device = Ed25519PrivateKey.generate()
    atomic_write(
        kit.device_key_file,
        device.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
    )
    public = device.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    manifest = {"format": KIT_FORMAT, "device_public_key": public, "pin": PIN}
    atomic_write(root / "kit.json", json.dumps(manifest, indent=1).encode())
    return kit
