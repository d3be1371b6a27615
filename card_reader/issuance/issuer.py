"""The test card issuer's state on disk (J-LIS's role): CAs, the CRL, the directory that maps
an auth certificate (issuer + serial) to a person, and the card images it personalised.

Layout of the issuer directory:

    ca/auth_ca.pem  ca/auth_ca.key.pem  ca/sign_ca.pem  ca/sign_ca.key.pem
    ca/phone_auth_ca.pem  ca/phone_auth_ca.key.pem   the smartphones' auth CA
    ca/attribute_signer.key.pem  the key that signs a card's 4 attributes and face (its CV
                               certificate, on every card, is made from it)
    crl/auth_ca.crl  crl/phone_auth_ca.crl    DER, re-signed on every revocation
    directory.json             certificate → person reference (never a My Number); a
                               smartphone's entry names its issuer
    register.json              person reference → the four items as issued (氏名, its
                               reading, 生年月日, 性別, 住所): the resident register (住基)
                               an insurer's registration is matched against
                               (`onshi_kernel.four_items`), rewritten on every issue
    cards/<label>.json         card images (`card-reader emulate` inserts them); a phone's
                               is `<label>-phone.json`

The person reference is `person_reference(my_number, key)`: the insurer registry derives the
same one from the My Number an insurer registers, so the two meet without sharing the number.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    load_pem_private_key,
)

from card_reader.core.cvc import encode_cvc
from card_reader.core.jpki import JpkiFile
from card_reader.core.kenhojo import BasicInfo, KenhojoFile, key_id_of
from card_reader.emulator.image import CardImage, CardKind, load_image, save_image
from card_reader.issuance.personalise import AttributeSigner, key_pem, personalise
from card_reader.issuance.profile import (
    AUTH_KINDS,
    CaKind,
    Holder,
    Revocation,
    TestCa,
    build_crl,
    create_ca,
    generate_key,
    issue_auth_certificate,
    issue_sign_certificate,
    new_subject_id,
    revocations_of,
)
from card_reader.issuance.validity import auth_certificate_expiry, card_expiry
from onshi_kernel.files import atomic_write
from onshi_kernel.four_items import (
    FourItems,
    ResidentRegisterError,
    parse_register,
    register_document,
)
from onshi_kernel.japan_time import JST
from onshi_kernel.mynumber import person_reference

if TYPE_CHECKING:
    from collections.abc import Iterable

    from card_reader.issuance.residents import Resident

DIRECTORY_FORMAT = "onshi-issuer-directory/1"
# Real CRLs are re-issued daily; test fixtures live in a repository for years.
DEFAULT_CRL_VALIDITY = dt.timedelta(days=3650)
_CA_FILES = {CaKind.AUTH: "auth_ca", CaKind.SIGN: "sign_ca", CaKind.PHONE_AUTH: "phone_auth_ca"}


class IssuerError(Exception):
    """The issuer directory cannot do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One auth certificate the issuer issued, and the person it belongs to."""

    serial: int
    subject_id: str
    person_ref: str
    card: str
    issued_at: str
    not_after: str
    card_expires_on: str
    status: str = "valid"  # valid | revoked
    revocation_reason: str | None = None
    # The certificate's issuer when it is not the directory's (a smartphone's), RFC 4514.
    issuer: str | None = None


def generate_sign_password() -> str:
    """A random signing password: 8 upper-case letters and digits."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Issuer:
    """The issuer directory at `root`. `Issuer.open(root)` creates the CAs on first use."""

    def __init__(
        self,
        root: Path,
        auth_ca: TestCa,
        sign_ca: TestCa,
        pseudonym_key: bytes,
        attribute_key: rsa.RSAPrivateKey,
        phone_ca: TestCa,
    ):
        self.root = root
        self.auth_ca = auth_ca
        self.sign_ca = sign_ca
        self.phone_ca = phone_ca
        self._pseudonym_key = pseudonym_key
        key_id = key_id_of(attribute_key.public_key())
        unsigned = AttributeSigner(attribute_key, key_id, b"")
        # Self-certified [chosen]: the test issuer has no separate root for this key.
        certificate = encode_cvc(
            attribute_key.public_key(),
            issuer_key_id=key_id,
            subject_key_id=key_id,
            sign=unsigned.sign,
        )
        self.attribute_signer = replace(unsigned, certificate=certificate)

    # --- paths ----------------------------------------------------------------------

    @property
    def crl_path(self) -> Path:
        return self.crl_path_of(CaKind.AUTH)

    def crl_path_of(self, kind: CaKind) -> Path:
        return self.root / "crl" / f"{_CA_FILES[kind]}.crl"

    def trusted_ca_paths(self) -> list[Path]:
        """The user-authentication CAs a server trusts: the cards' and the phones'."""
        return [self.ca_certificate_path(kind) for kind in AUTH_KINDS]

    def crl_paths(self) -> list[Path]:
        """Their CRLs, in the same order."""
        return [self.crl_path_of(kind) for kind in AUTH_KINDS]

    def _ca(self, kind: CaKind) -> TestCa:
        return {
            CaKind.AUTH: self.auth_ca,
            CaKind.SIGN: self.sign_ca,
            CaKind.PHONE_AUTH: self.phone_ca,
        }[kind]

    def _kind_of(self, entry: DirectoryEntry) -> CaKind:
        if entry.issuer == self.phone_ca.certificate.subject.rfc4514_string():
            return CaKind.PHONE_AUTH
        return CaKind.AUTH

    @property
    def directory_path(self) -> Path:
        return self.root / "directory.json"

    @property
    def register_path(self) -> Path:
        """The resident register: person reference → four items (`write_register`)."""
        return register_path_of(self.root)

    def ca_certificate_path(self, kind: CaKind) -> Path:
        return self.root / "ca" / f"{_CA_FILES[kind]}.pem"

    def card_path(self, label: str) -> Path:
        return self.root / "cards" / f"{label}.json"

    # --- opening ----------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, pseudonym_key: bytes, now: dt.datetime | None = None) -> Issuer:
        """Open the issuer directory, creating the test CAs and an empty CRL if absent."""
        now = now or dt.datetime.now(dt.UTC)
        cas = {}
        for kind in CaKind:
            cert_path = root / "ca" / f"{_CA_FILES[kind]}.pem"
            key_path = root / "ca" / f"{_CA_FILES[kind]}.key.pem"
            if cert_path.exists():
                cas[kind] = _load_ca(kind, cert_path, key_path)
            else:
                cas[kind] = create_ca(kind, generate_key(), now)
                atomic_write(cert_path, cas[kind].certificate.public_bytes(Encoding.PEM))
                atomic_write(key_path, key_pem(cas[kind].key))
        attribute_key_path = root / "ca" / "attribute_signer.key.pem"
        if attribute_key_path.exists():
            attribute_key = _load_rsa_key(attribute_key_path)
        else:
            attribute_key = generate_key()
            atomic_write(attribute_key_path, key_pem(attribute_key))
        issuer = cls(
            root,
            cas[CaKind.AUTH],
            cas[CaKind.SIGN],
            pseudonym_key,
            attribute_key,
            cas[CaKind.PHONE_AUTH],
        )
        for kind in AUTH_KINDS:
            if not issuer.crl_path_of(kind).exists():
                issuer.publish_crl([], now, kind=kind)
        return issuer

    # --- the directory ------------------------------------------------------------------

    def entries(self) -> list[DirectoryEntry]:
        if not self.directory_path.exists():
            return []
        doc = json.loads(self.directory_path.read_text(encoding="utf-8"))
        if doc.get("format") != DIRECTORY_FORMAT:
            raise IssuerError(f"{self.directory_path} is not an issuer directory")
        return [DirectoryEntry(**{**e, "serial": int(e["serial"])}) for e in doc["certificates"]]

    def _save_entries(self, entries: list[DirectoryEntry]) -> None:
        doc: dict[str, Any] = {
            "format": DIRECTORY_FORMAT,
            "issuer": self.auth_ca.certificate.subject.rfc4514_string(),
            "certificates": [_entry_doc(e) for e in entries],
        }
        atomic_write(self.directory_path, json.dumps(doc, indent=1, ensure_ascii=False).encode())

    def entry_for_serial(self, serial: int) -> DirectoryEntry:
        for entry in self.entries():
            if entry.serial == serial:
                return entry
        raise IssuerError(f"no certificate with serial {serial} in {self.directory_path}")

    # --- the resident register -----------------------------------------------------------

    def register_residents(self, residents: Iterable[Resident]) -> None:
        """Record these residents' four items in the register, beside those already there."""
        write_register(self.root, residents, self._pseudonym_key, keep_existing=True)

    # --- issuing ------------------------------------------------------------------------

    def issue_card(
        self,
        resident: Resident,
        *,
        pin: str | None,
        sign_password: str | None = None,
        now: dt.datetime | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        overwrite: bool = False,
        security_code: str | None = None,
    ) -> tuple[Path, DirectoryEntry]:
        """Personalise a card for `resident` and record its auth certificate. The resident's
        `card` says which kind: a face card gets no PIN (`pin` is ignored) and no signing
        certificate. The card's 4-digit security code is random unless given.

        `not_before`/`not_after` override the profile's validity (to make expired or
        not-yet-valid test cards).
        """
        kind = CardKind(resident.card)
        now = now or dt.datetime.now(dt.UTC)
        path = self.card_path(resident.label)
        if path.exists() and not overwrite:
            raise IssuerError(f"{path} exists: a card was already issued for {resident.label}")
        expires_on, start, end = _validity(resident, now, not_before, not_after)
        auth_key = generate_key()
        auth_cert = issue_auth_certificate(
            self.auth_ca, auth_key.public_key(), new_subject_id(now), start, end
        )
        sign_key, sign_cert = None, None
        if kind is not CardKind.FACE_CARD:
            sign_key = generate_key()
            sign_cert = issue_sign_certificate(
                self.sign_ca, sign_key.public_key(), _holder(resident), start, end
            )
        image = personalise(
            resident,
            kind=kind,
            auth_key=auth_key,
            auth_certificate=auth_cert,
            auth_ca_certificate=self.auth_ca.certificate,
            sign_key=sign_key,
            sign_certificate=sign_cert,
            sign_ca_certificate=self.sign_ca.certificate,
            pin=None if kind is CardKind.FACE_CARD else pin,
            sign_password=None
            if kind is CardKind.FACE_CARD
            else sign_password or generate_sign_password(),
            card_expires_on=expires_on,
            attribute_signer=self.attribute_signer,
            security_code=security_code,
        )
        entry = self._entry(
            auth_cert,
            resident.label,
            person_reference(resident.my_number, self._pseudonym_key),
            expires_on,
        )
        self._save_entries([*self.entries(), entry])
        self.register_residents([resident])
        save_image(path, image)
        return path, entry

    def issue_smartphone(
        self,
        resident: Resident,
        *,
        pin: str,
        sign_password: str | None = None,
        now: dt.datetime | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        overwrite: bool = False,
    ) -> tuple[Path, DirectoryEntry]:
        """Put `resident`'s certificates on an Android phone (スマホ用電子証明書): the JPKI
        application alone, its auth certificate from the smartphones' CA, valid as long as
        the card's would be [chosen]. The phone's image is `<label>-phone`."""
        now = now or dt.datetime.now(dt.UTC)
        label = f"{resident.label}-phone"
        path = self.card_path(label)
        if path.exists() and not overwrite:
            raise IssuerError(f"{path} exists: a phone was already set up for {resident.label}")
        expires_on, start, end = _validity(resident, now, not_before, not_after)
        auth_key, sign_key = generate_key(), generate_key()
        auth_cert = issue_auth_certificate(
            self.phone_ca, auth_key.public_key(), new_subject_id(now), start, end
        )
        sign_cert = issue_sign_certificate(
            self.sign_ca, sign_key.public_key(), _holder(resident), start, end
        )
        image = personalise(
            resident,
            kind=CardKind.SMARTPHONE,
            auth_key=auth_key,
            auth_certificate=auth_cert,
            auth_ca_certificate=self.phone_ca.certificate,
            sign_key=sign_key,
            sign_certificate=sign_cert,
            sign_ca_certificate=self.sign_ca.certificate,
            pin=pin,
            sign_password=sign_password or generate_sign_password(),
            card_expires_on=expires_on,
            attribute_signer=self.attribute_signer,
        )
        entry = replace(
            self._entry(
                auth_cert,
                label,
                person_reference(resident.my_number, self._pseudonym_key),
                expires_on,
            ),
            issuer=self.phone_ca.certificate.subject.rfc4514_string(),
        )
        self._save_entries([*self.entries(), entry])
        self.register_residents([resident])
        save_image(path, image)
        return path, entry

    def renew(self, card_path: Path, *, now: dt.datetime | None = None) -> DirectoryEntry:
        """Issue a new auth key and certificate (new serial, same person) onto the card.

        The previous certificate is revoked as superseded, as JPKI does on renewal.
        """
        now = now or dt.datetime.now(dt.UTC)
        image = load_image(card_path)
        old = self.entry_for_serial(_auth_serial(image))
        if old.status != "valid":
            raise IssuerError(f"certificate {old.serial} is {old.status}: issue a new card")
        if image.kind is CardKind.SMARTPHONE:
            raise IssuerError("a smartphone's certificate is not renewed: set the phone up again")
        issued_on = now.astimezone(JST).date()
        expires_on = dt.date.fromisoformat(old.card_expires_on)
        birth_date = _birth_date_of(image)
        end = _end_of_day(auth_certificate_expiry(birth_date, issued_on, expires_on))
        if end <= now:
            raise IssuerError("the card itself has expired: issue a new card")
        key = generate_key()
        cert = issue_auth_certificate(self.auth_ca, key.public_key(), new_subject_id(now), now, end)
        renewed = replace(
            image,
            jpki_files={**image.jpki_files, JpkiFile.AUTH_CERT: cert.public_bytes(Encoding.DER)},
            auth_key_pem=key_pem(key),
        )
        entry = self._entry(cert, old.card, old.person_ref, expires_on)
        self._save_entries([*self.entries(), entry])
        self.revoke(old.serial, x509.ReasonFlags.superseded, now=now)
        save_image(card_path, renewed)
        return entry

    def _entry(
        self, cert: x509.Certificate, card: str, person_ref: str, expires_on: dt.date
    ) -> DirectoryEntry:
        return DirectoryEntry(
            serial=cert.serial_number,
            subject_id=_common_name(cert),
            person_ref=person_ref,
            card=card,
            issued_at=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            card_expires_on=expires_on.isoformat(),
        )

    # --- revocation -------------------------------------------------------------------

    def revoke(
        self,
        serial: int,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
        *,
        now: dt.datetime | None = None,
    ) -> None:
        """Add `serial` to the CRL and mark it revoked in the directory."""
        now = now or dt.datetime.now(dt.UTC)
        entry = self.entry_for_serial(serial)
        if entry.status == "revoked":
            raise IssuerError(f"certificate {serial} is already revoked")
        kind = self._kind_of(entry)
        current = self.load_crl(kind)
        self.publish_crl(
            [*revocations_of(current), Revocation(serial, now, reason)], now, kind=kind
        )
        self._save_entries(
            [
                replace(e, status="revoked", revocation_reason=reason.value)
                if e.serial == serial
                else e
                for e in self.entries()
            ]
        )

    def load_crl(self, kind: CaKind = CaKind.AUTH) -> x509.CertificateRevocationList:
        return x509.load_der_x509_crl(self.crl_path_of(kind).read_bytes())

    def publish_crl(
        self,
        revocations: list[Revocation],
        now: dt.datetime,
        validity: dt.timedelta = DEFAULT_CRL_VALIDITY,
        *,
        kind: CaKind = CaKind.AUTH,
    ) -> None:
        """Sign and write the CRL of the `kind` CA with the next CRL number."""
        number = 1
        path = self.crl_path_of(kind)
        if path.exists():
            previous = self.load_crl(kind)
            number = previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            number += 1
        crl = build_crl(self._ca(kind), revocations, now, now + validity, number)
        atomic_write(path, crl.public_bytes(Encoding.DER))


def register_path_of(root: Path) -> Path:
    """Where the issuer directory at `root` keeps its resident register."""
    return root / "register.json"


def four_items_of(resident: Resident) -> FourItems:
    """A resident's four items (and reading) as the issuer holds them."""
    return FourItems(
        name=resident.name,
        birthdate=resident.birth_date,
        sex=resident.sex,
        address=resident.address,
        name_kana=resident.name_kana,
    )


def write_register(
    root: Path, residents: Iterable[Resident], pseudonym_key: bytes, *, keep_existing: bool
) -> Path:
    """Write the register of the issuer directory at `root`: these residents, keyed by person
    reference as the directory is, and with `keep_existing` those already recorded. Nothing
    else in the directory is read or written, so the CAs and directory.json stay as they are.
    """
    path = register_path_of(root)
    entries: dict[str, FourItems] = {}
    if keep_existing and path.exists():
        try:
            entries = parse_register(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ResidentRegisterError) as exc:
            raise IssuerError(f"{path}: {exc}") from None
    for resident in residents:
        entries[person_reference(resident.my_number, pseudonym_key)] = four_items_of(resident)
    doc = register_document(entries)
    atomic_write(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())
    return path


def _validity(
    resident: Resident,
    now: dt.datetime,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """The card's expiry and the auth certificate's validity for one issued `now` (the
    profile's, unless `not_before`/`not_after` override it)."""
    issued_on = now.astimezone(JST).date()
    expires_on = card_expiry(resident.birth_date, issued_on)
    end = not_after or _end_of_day(
        auth_certificate_expiry(resident.birth_date, issued_on, expires_on)
    )
    return expires_on, not_before or now, end


def _holder(resident: Resident) -> Holder:
    return Holder(
        name=resident.name,
        address=resident.address,
        birth_date=resident.birth_date,
        sex=resident.sex,
    )


def _entry_doc(entry: DirectoryEntry) -> dict[str, Any]:
    doc = {**asdict(entry), "serial": str(entry.serial)}
    if entry.issuer is None:  # the directory's issuer: said once, at the top
        del doc["issuer"]
    return doc


def _common_name(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    return value if isinstance(value, str) else value.decode("ascii")


def _auth_serial(image: CardImage) -> int:
    return x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT]).serial_number


def _birth_date_of(image: CardImage) -> dt.date:
    return BasicInfo.decode(image.kenhojo_files[KenhojoFile.BASIC_INFO]).birth_date


def _end_of_day(day: dt.date) -> dt.datetime:
    """23:59:59 Japan time on `day`, in UTC."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), JST).astimezone(dt.UTC)


def _load_rsa_key(key_path: Path) -> rsa.RSAPrivateKey:
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise IssuerError(f"{key_path} is not an RSA key")
    return key


def _load_ca(kind: CaKind, cert_path: Path, key_path: Path) -> TestCa:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return TestCa(kind, cert, _load_rsa_key(key_path))
