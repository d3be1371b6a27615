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
from enum import Enum
from pathlib import Path
from typing import Any

from onshi_kernel.files import atomic_write

IMAGE_FORMAT = "onshi-card-image/1"
PIN_HASH_ITERATIONS = 1000  # a 4-digit PIN falls to any cost; this only keeps it out of view

# OpenSC's table for the JPKI card (docs/card.md). Clients must select the AID, not trust this.
DEFAULT_ATR = bytes.fromhex("3BE000FF8131FE4514")


class Secret(Enum):
    """The card's verification data, each with its own retry counter."""

    AUTH_PIN = "auth_pin"  # JPKI EF 0018
    SIGN_PASSWORD = "sign_password"  # noqa: S105 -- a name, not a password. JPKI EF 001B
    KENHOJO_PIN = "kenhojo_pin"  # 券面事項入力補助AP EF 0011


MAX_TRIES = {Secret.AUTH_PIN: 3, Secret.SIGN_PASSWORD: 5, Secret.KENHOJO_PIN: 3}


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
    """An emulated card: the files of both applications, the keys and the secrets.

    `jpki_files` and `kenhojo_files` map a file id to the content of a transparent EF.
    Keys are PKCS#8 PEM (a test card's keys; real cards never export theirs).
    """

    label: str
    jpki_files: dict[int, bytes] = field(repr=False)
    kenhojo_files: dict[int, bytes] = field(repr=False)
    auth_key_pem: bytes = field(repr=False)
    sign_key_pem: bytes = field(repr=False)
    pins: dict[Secret, PinState]
    atr: bytes = DEFAULT_ATR

    def with_pin(self, secret: Secret, state: PinState) -> CardImage:
        return replace(self, pins={**self.pins, secret: state})

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "format": IMAGE_FORMAT,
            "label": self.label,
            "atr": self.atr.hex(),
            "jpki_files": {f"{fid:04X}": data.hex() for fid, data in self.jpki_files.items()},
            "kenhojo_files": {f"{fid:04X}": data.hex() for fid, data in self.kenhojo_files.items()},
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
            if doc.get("format") != IMAGE_FORMAT:
                raise ValueError(f"not a card image (format {doc.get('format')!r})")
            pins = {
                Secret(name): PinState(
                    salt=bytes.fromhex(p["salt"]),
                    digest=bytes.fromhex(p["digest"]),
                    tries_left=int(p["tries_left"]),
                    max_tries=int(p["max_tries"]),
                )
                for name, p in doc["pins"].items()
            }
            missing = set(Secret) - set(pins)
            if missing:
                raise ValueError(f"missing secrets: {sorted(s.value for s in missing)}")
            return cls(
                label=str(doc["label"]),
                atr=bytes.fromhex(doc["atr"]),
                jpki_files={int(k, 16): bytes.fromhex(v) for k, v in doc["jpki_files"].items()},
                kenhojo_files={
                    int(k, 16): bytes.fromhex(v) for k, v in doc["kenhojo_files"].items()
                },
                auth_key_pem=doc["auth_key_pem"].encode("ascii"),
                sign_key_pem=doc["sign_key_pem"].encode("ascii"),
                pins=pins,
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed card image: {exc!r}") from exc


def load_image(path: Path) -> CardImage:
    """Read a card image file. Raises ValueError (malformed) or OSError (unreadable)."""
    return CardImage.from_json(path.read_text(encoding="utf-8"))


def save_image(path: Path, image: CardImage) -> None:
    """Write a card image atomically: a crash leaves the old image or the new, never half."""
    atomic_write(path, image.to_json().encode("utf-8"))
