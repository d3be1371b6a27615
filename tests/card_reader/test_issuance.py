"""Test card issuance: the certificate profile of docs/card.md, validity rules, CRL, renewal."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from card_reader.core.jpki import JpkiFile, JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image
from card_reader.issuance.issuer import Issuer, IssuerError
from card_reader.issuance.profile import POLICY_USER_AUTH
from card_reader.issuance.residents import Resident
from card_reader.issuance.validity import (
    age_on,
    auth_certificate_expiry,
    card_expiry,
    nth_birthday_after,
)
from card_reader.transports.inprocess import InProcessConnection
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.support.cards import PIN

D = dt.date


@pytest.mark.parametrize(
    ("birth", "after", "n", "expected"),
    [
        (D(1980, 4, 1), D(2026, 11, 28), 5, D(2031, 4, 1)),
        (D(1980, 12, 1), D(2026, 11, 28), 1, D(2026, 12, 1)),
        (D(1980, 11, 28), D(2026, 11, 28), 1, D(2027, 11, 28)),  # strictly after
        (D(1988, 2, 29), D(2026, 11, 28), 5, D(2031, 2, 28)),
        (D(1988, 2, 29), D(2026, 11, 28), 6, D(2032, 2, 29)),
    ],
)
def test_nth_birthday_after(birth: D, after: D, n: int, expected: D) -> None:
    assert nth_birthday_after(birth, after, n) == expected


def test_adult_card_lasts_ten_birthdays_minor_five() -> None:
    assert card_expiry(D(1980, 4, 1), D(2026, 11, 28)) == D(2036, 4, 1)
    assert card_expiry(D(2016, 8, 20), D(2026, 11, 28)) == D(2031, 8, 20)
    assert age_on(D(2008, 11, 28), D(2026, 11, 28)) == 18
    assert card_expiry(D(2008, 11, 28), D(2026, 11, 28)) == D(2036, 11, 28)


def test_certificate_is_capped_by_the_card() -> None:
    assert auth_certificate_expiry(D(1980, 4, 1), D(2034, 5, 1), D(2036, 4, 1)) == D(2036, 4, 1)
    assert auth_certificate_expiry(D(1980, 4, 1), D(2026, 11, 28), D(2036, 4, 1)) == D(2031, 4, 1)


def auth_cert(issuer: Issuer, label: str = "yamada-taro") -> x509.Certificate:
    image = load_image(issuer.card_path(label))
    return x509.load_der_x509_certificate(image.jpki_files[JpkiFile.AUTH_CERT])


def test_auth_certificate_profile(issuer: Issuer) -> None:
    cert = auth_cert(issuer)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {
        NameOID.COUNTRY_NAME: "JP",
        NameOID.COMMON_NAME: subject[NameOID.COMMON_NAME],
    }
    assert len(subject[NameOID.COMMON_NAME]) == 23
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert (key.key_size, key.public_numbers().e) == (2048, 65537)
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not (usage.value.key_cert_sign)
    assert not (usage.value.content_commitment)
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_USER_AUTH]
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name is not None
    assert isinstance(points[0].full_name[0], x509.DirectoryName)


def test_test_ca_never_claims_to_be_jlis(issuer: Issuer) -> None:
    name = issuer.auth_ca.certificate.subject
    organisations = [a.value for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert organisations == ["JPKI-TEST"]
    assert "not J-LIS" in name.rfc4514_string()


def test_chain_validates_with_a_jpki_end_entity_policy(issuer: Issuer) -> None:
    ee_policy = (
        ExtensionPolicy.permit_all()
        .require_present(x509.KeyUsage, Criticality.CRITICAL, None)
        .require_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None)
    )
    verifier = (
        PolicyBuilder()
        .store(Store([issuer.auth_ca.certificate]))
        .time(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    chain = verifier.verify(auth_cert(issuer), []).chain
    assert chain[-1] == issuer.auth_ca.certificate


def test_directory_maps_serial_to_person_reference(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    entry = issuer.entry_for_serial(auth_cert(issuer).serial_number)
    assert entry.person_ref == person_reference(
        resident_list[0].my_number, DEVELOPMENT_PSEUDONYM_KEY
    )
    text = issuer.directory_path.read_text()
    assert resident_list[0].my_number not in text
    assert resident_list[0].name not in text
    assert json.loads(text)["certificates"][0]["serial"].isdigit()  # any size: a string


def test_fresh_crl_is_signed_and_empty(issuer: Issuer) -> None:
    crl = issuer.load_crl()
    assert crl.is_signature_valid(issuer.auth_ca.key.public_key())
    assert len(crl) == 0
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > dt.datetime.now(dt.UTC)


def test_revoke_lists_the_serial_and_bumps_the_crl_number(issuer: Issuer) -> None:
    serial = auth_cert(issuer).serial_number
    before = issuer.load_crl().extensions.get_extension_for_class(x509.CRLNumber).value
    issuer.revoke(serial)
    crl = issuer.load_crl()
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.is_signature_valid(issuer.auth_ca.key.public_key())
    after = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    assert after.crl_number == before.crl_number + 1
    assert issuer.entry_for_serial(serial).status == "revoked"
    with pytest.raises(IssuerError, match="already revoked"):
        issuer.revoke(serial)


def test_renewal_keeps_the_person_and_supersedes_the_old_certificate(issuer: Issuer) -> None:
    old = auth_cert(issuer)
    new_entry = issuer.renew(issuer.card_path("yamada-taro"))
    new = auth_cert(issuer)
    assert new.serial_number == new_entry.serial != old.serial_number
    assert new_entry.person_ref == issuer.entry_for_serial(old.serial_number).person_ref
    revoked = issuer.load_crl().get_revoked_certificate_by_serial_number(old.serial_number)
    assert revoked is not None
    reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.superseded
    # the card signs with the new key, under the same PIN
    connection = InProcessConnection(EmulatedCard(load_image(issuer.card_path("yamada-taro"))))
    signature = JpkiSession(connection).authenticate(PIN, hashlib.sha256(b"c").digest())
    key = new.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"c", padding.PKCS1v15(), hashes.SHA256())


def test_expired_test_cards_can_be_issued(issuer: Issuer, resident_list: list[Resident]) -> None:
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    path, entry = issuer.issue_card(resident_list[2], pin=PIN, not_before=start, not_after=end)
    cert = auth_cert(issuer, resident_list[2].label)
    assert cert.not_valid_after_utc == end
    assert entry.card == resident_list[2].label
    assert path.exists()


def test_issuing_twice_for_a_resident_is_refused(
    issuer: Issuer, resident_list: list[Resident]
) -> None:
    with pytest.raises(IssuerError, match="already issued"):
        issuer.issue_card(resident_list[0], pin=PIN)
