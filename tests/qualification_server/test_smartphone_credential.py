"""A smartphone's certificate (スマホ用電子証明書): trusted through the CAs the server is told
are smartphones', recorded as a smartphone's, and given no grace after it expires (docs/card.md,
docs/domain.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from card_reader.core.jpki import JpkiFile
from card_reader.emulator.image import load_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from qualification_server.settings import Settings
from qualification_server.trust.certificates import certificate_summary
from qualification_server.trust.files import load_anchors
from qualification_server.trust.grace import CredentialKind
from qualification_server.trust.validation import (
    CertificateExpired,
    TrustAnchors,
    UntrustedCertificate,
    validate_certificate,
)
from tests.qualification_server.test_settings import REPO, production
from tests.support.cards import PIN


def anchors_of(issuer: Issuer, *, phones_configured: bool = True) -> TrustAnchors:
    phone_ca = issuer.ca_certificate_path(issuer.phone_ca.kind)
    return load_anchors(
        [issuer.ca_certificate_path(issuer.auth_ca.kind)],
        issuer.crl_paths(),
        smartphone_ca_files=[phone_ca] if phones_configured else [],
    )


def auth_der(path: object) -> bytes:
    return load_image(path).jpki_files[JpkiFile.AUTH_CERT]  # type: ignore[arg-type]


def test_a_phone_certificate_is_known_as_a_smartphone(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    phone, _ = issuer.issue_smartphone(resident_list[0], pin=PIN)
    card, _ = issuer.issue_card(resident_list[1], pin=PIN, overwrite=True)
    anchors, now = anchors_of(issuer), dt.datetime.now(dt.UTC)
    on_phone = validate_certificate(auth_der(phone), anchors, now)
    on_card = validate_certificate(auth_der(card), anchors, now)
    assert on_phone.kind is CredentialKind.SMARTPHONE
    assert on_card.kind is CredentialKind.PHYSICAL_CARD
    assert certificate_summary(on_phone, None)["credential"] == "smartphone"
    assert certificate_summary(on_card, None)["credential"] == "physical card"


def test_a_phone_ca_not_configured_is_not_trusted(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    phone, _ = issuer.issue_smartphone(resident_list[0], pin=PIN)
    with pytest.raises(UntrustedCertificate):
        validate_certificate(
            auth_der(phone), anchors_of(issuer, phones_configured=False), dt.datetime.now(dt.UTC)
        )


def test_an_expired_phone_certificate_gets_no_grace_where_a_card_would(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    # valid for the CAs' first hour, checked a day later (the path is validated as of the end)
    start = issuer.phone_ca.certificate.not_valid_before_utc
    window = {"not_before": start, "not_after": start + dt.timedelta(hours=1)}
    phone, _ = issuer.issue_smartphone(resident_list[0], pin=PIN, **window)
    card, _ = issuer.issue_card(resident_list[1], pin=PIN, overwrite=True, **window)
    anchors, at = anchors_of(issuer), start + dt.timedelta(days=1)
    assert validate_certificate(auth_der(card), anchors, at, grace=True).in_grace
    with pytest.raises(CertificateExpired):
        validate_certificate(auth_der(phone), anchors, at, grace=True)


def test_outside_development_no_smartphone_ca_is_trusted_unless_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert production(monkeypatch, tmp_path).jpki_smartphone_ca_files == []
    committed = REPO / "fixtures" / "issuer" / "ca" / "phone_auth_ca.pem"
    with pytest.raises(ValidationError, match="ONSHI_JPKI_SMARTPHONE_CA_FILES"):
        production(monkeypatch, tmp_path, ONSHI_JPKI_SMARTPHONE_CA_FILES=f'["{committed}"]')


def test_development_trusts_the_committed_smartphone_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHI_ENV", "development")
    assert [p.name for p in Settings().jpki_smartphone_ca_files] == ["phone_auth_ca.pem"]
