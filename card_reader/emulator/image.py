"""The card image: everything an emulated My Number card remembers between power cycles.

An image is a frozen value; the card replaces it when a retry counter or a PIN changes and
hands the new one to whoever persists it (`save_image` writes the JSON file atomically).
PINs are kept as salted PBKDF2 hashes, never in the clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from onshi_kernel.files import atomic_write

IMAGE_FORMAT = "onshi-card-image/2"
# Images made before the card had a physical card's layout (padded EFs, the 券面AP, the
# 入力補助AP's signed attributes): they cannot be upgraded in place (the attributes are signed
# by the issuer), so loading one says how to reissue it.
OLD_IMAGE_FORMATS = frozenset({"onshi-card-image/1"})
PIN_HASH_ITERATIONS = 1000  # a 4-digit PIN falls to any cost; this only keeps it out of view

# OpenSC's table for the JPKI card (docs/card.md). Clients must select the AID, not trust this.
DEFAULT_ATR = bytes.fromhex("3BE000FF8131FE4514")
# What PC/SC makes of a contactless (ISO 14443-B) JPKI token, a smartphone's too: clients that
# read phones accept only an ATR that begins 3B 88 80 01 (docs/card.md).
CONTACTLESS_ATR = bytes.fromhex("3B888001000005E0B381A1007F")


class ImageCode(StrEnum):
    """Numbered refusals of a card image file (README, the emulated card). A code never
    changes meaning; new ones are added at the end."""

    NOT_AN_IMAGE = "K1001"
    OLD_FORMAT = "K1002"
    UNKNOWN_KIND = "K1003"
    MALFORMED = "K1004"
    PINS_MISSING = "K1005"
    DOES_NOT_FIT = "K1006"


class CardImageError(ValueError):
    """A card image that cannot be used: its code, and what is wrong (never a secret)."""

    def __init__(self, code: ImageCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code


class CardKind(Enum):
    """What the emulated credential is (docs/card.md, the kinds of card)."""

    CARD = "card"  # a physical My Number card
    FACE_CARD = "face_card"  # 顔認証マイナンバーカード: issued without PINs, face or visual only
    SMARTPHONE = "smartphone"  # Android's スマホ用電子証明書, read as a contactless card


class Secret(Enum):
    """The card's verification data, each with its own retry counter."""

    AUTH_PIN = "auth_pin"  # JPKI EF 0018
    SIGN_PASSWORD = "sign_password"  # noqa: S105 -- a name, not a password. JPKI EF 001B
    KENHOJO_PIN = "kenhojo_pin"  # 券面事項入力補助AP EF 0011
    KENHOJO_PIN_A = "kenhojo_pin_a"  # 入力補助AP EF 0014: the My Number (照合番号A) [chosen]
    KENHOJO_PIN_B = "kenhojo_pin_b"  # 入力補助AP EF 0015: 照合番号B [chosen]
    KENMEN_PIN_A = "kenmen_pin_a"  # 券面AP EF 0013: the My Number
    KENMEN_PIN_B = "kenmen_pin_b"  # 券面AP EF 0012: birth date, card expiry, security code


# The 照合番号 counters are not published; 10 is [chosen] (docs/card.md).
MAX_TRIES = {
    Secret.AUTH_PIN: 3,
    Secret.SIGN_PASSWORD: 5,
    Secret.KENHOJO_PIN: 3,
    Secret.KENHOJO_PIN_A: 10,
    Secret.KENHOJO_PIN_B: 10,
    Secret.KENMEN_PIN_A: 10,
    Secret.KENMEN_PIN_B: 10,
}

# The secrets each kind is issued with. A PIN file whose secret the image lacks refuses
# VERIFY (docs/card.md): the face card has no PINs, only the 照合番号 the reader takes from
# the card face; the smartphone has the JPKI application alone.
_CARD_NUMBERS = (
    Secret.KENHOJO_PIN_A,
    Secret.KENHOJO_PIN_B,
    Secret.KENMEN_PIN_A,
    Secret.KENMEN_PIN_B,
)
SECRETS_OF: dict[CardKind, frozenset[Secret]] = {
    CardKind.CARD: frozenset(Secret),
    CardKind.FACE_CARD: frozenset(_CARD_NUMBERS),
    CardKind.SMARTPHONE: frozenset({Secret.AUTH_PIN, Secret.SIGN_PASSWORD}),
}


@dataclass(frozen=True, slots=True)
class PinState:
    """A secret's salted hash and its retry counter."""

    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    tries_left: int
    max_tries: int

    @classmethod
    def create(cls, value: bytes, max_tries: int) -> PinState:
        salt = secrets.token_bytes(16)
        return cls(salt, _hash(salt, value), max_tries, max_tries)

    def matches(self, value: bytes) -> bool:
        """Constant-time comparison of `value` with the stored secret."""
        return hmac.compare_digest(self.digest, _hash(self.salt, value))

    @property
    def blocked(self) -> bool:
        return self.tries_left == 0

    def after_failure(self) -> PinState:
        return replace(self, tries_left=max(0, self.tries_left - 1))

    def after_success(self) -> PinState:
        return replace(self, tries_left=self.max_tries)

    def with_value(self, value: bytes) -> PinState:
        return PinState.create(value, self.max_tries)


def _hash(salt: bytes, value: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", value, salt, PIN_HASH_ITERATIONS)


@dataclass(frozen=True, slots=True)
class CardImage:
    """An emulated card: the files of its applications, the keys and the secrets.

    `jpki_files`, `kenhojo_files` and `kenmen_files` map a file id to the content of a
    transparent EF (the emulator pads it to the EF's size); an application with no files is
    not on the card. Keys are PKCS#8 PEM (a test card's keys; real cards never export
    theirs); a card without a signing key has none (`b""`).
    """

    label: str
    jpki_files: dict[int, bytes] = field(repr=False)
    kenhojo_files: dict[int, bytes] = field(repr=False)
    auth_key_pem: bytes = field(repr=False)
    sign_key_pem: bytes = field(repr=False)
    pins: dict[Secret, PinState]
    atr: bytes = DEFAULT_ATR
    kind: CardKind = CardKind.CARD
    kenmen_files: dict[int, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        missing = SECRETS_OF[self.kind] - set(self.pins)
        if missing:
            names = ", ".join(sorted(s.value for s in missing))
            raise CardImageError(
                ImageCode.PINS_MISSING, f"a {self.kind.value} image lacks secrets: {names}"
            )

    def with_pin(self, secret: Secret, state: PinState) -> CardImage:
        return replace(self, pins={**self.pins, secret: state})

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "format": IMAGE_FORMAT,
            "label": self.label,
            "kind": self.kind.value,
            "atr": self.atr.hex(),
            "jpki_files": _files_doc(self.jpki_files),
            "kenhojo_files": _files_doc(self.kenhojo_files),
            "kenmen_files": _files_doc(self.kenmen_files),
            "auth_key_pem": self.auth_key_pem.decode("ascii"),
            "sign_key_pem": self.sign_key_pem.decode("ascii"),
            "pins": {
                secret.value: {
                    "salt": state.salt.hex(),
                    "digest": state.digest.hex(),
                    "tries_left": state.tries_left,
                    "max_tries": state.max_tries,
                }
                for secret, state in self.pins.items()
            },
        }
        return json.dumps(doc, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CardImage:
        """Parse an image file. Raises ValueError naming what is wrong."""
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise CardImageError(ImageCode.NOT_AN_IMAGE, "not a card image (no JSON object)")
            if doc.get("format") in OLD_IMAGE_FORMATS:
                raise CardImageError(
                    ImageCode.OLD_FORMAT,
                    f"a card image of the old format {doc['format']!r}, made before the "
                    "emulated card had a physical card's files: issue the card again "
                    "(`card-reader issue`, or `make fixtures` for the committed set)",
                )
            if doc.get("format") != IMAGE_FORMAT:
                raise CardImageError(
                    ImageCode.NOT_AN_IMAGE, f"not a card image (format {doc.get('format')!r})"
                )
            pins = {
                Secret(name): PinState(
                    salt=bytes.fromhex(p["salt"]),
                    digest=bytes.fromhex(p["digest"]),
                    tries_left=int(p["tries_left"]),
                    max_tries=int(p["max_tries"]),
                )
                for name, p in doc["pins"].items()
            }
            try:
                kind = CardKind(doc["kind"])
            except ValueError:
                known = ", ".join(k.value for k in CardKind)
                raise CardImageError(
                    ImageCode.UNKNOWN_KIND, f"unknown card kind {doc['kind']!r} (known: {known})"
                ) from None
            return cls(
                label=str(doc["label"]),
                kind=kind,
                atr=bytes.fromhex(doc["atr"]),
                jpki_files=_files_of(doc["jpki_files"]),
                kenhojo_files=_files_of(doc["kenhojo_files"]),
                kenmen_files=_files_of(doc["kenmen_files"]),
                auth_key_pem=doc["auth_key_pem"].encode("ascii"),
                sign_key_pem=doc["sign_key_pem"].encode("ascii"),
                pins=pins,
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise CardImageError(ImageCode.MALFORMED, f"malformed card image: {exc!r}") from exc
        except CardImageError:
            raise
        except ValueError as exc:  # a hex field that is not hex, a secret of no known name
            raise CardImageError(ImageCode.MALFORMED, f"malformed card image: {exc}") from None


def _files_doc(files: dict[int, bytes]) -> dict[str, str]:
    return {f"{fid:04X}": data.hex() for fid, data in files.items()}


def _files_of(doc: dict[str, str]) -> dict[int, bytes]:
    return {int(k, 16): bytes.fromhex(v) for k, v in doc.items()}


def load_image(path: Path) -> CardImage:
    """Read a card image file. Raises ValueError (malformed) or OSError (unreadable)."""
    return CardImage.from_json(path.read_text(encoding="utf-8"))


def save_image(path: Path, image: CardImage) -> None:
    """Write a card image atomically: a crash leaves the old image or the new, never half."""
    atomic_write(path, image.to_json().encode("utf-8"))
