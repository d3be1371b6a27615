"""The server fails closed: an unset ONSHI_ENV means production, and outside development the
development challenge key and the committed test issuer are refused, the latter by what the
files hold, wherever they lie."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError

from card_reader.issuance import profile
from card_reader.issuance.profile import CaKind, build_crl, create_ca
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.settings import DEVELOPMENT_CHALLENGE_KEY, Settings
from qualification_server.trust.files import TrustConfigurationError, TrustStore
from qualification_server.trust.issuer_directory import FileIssuerDirectory, IssuerDirectoryError
from qualification_server.trust.test_material import MANIFEST, describe

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "issuer"
PRODUCTION_KEY = "k" * 40
NOW = dt.datetime.now(dt.UTC)


def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    own = tmp_path / "own_ca.pem"
    own.write_text("-")
    log_key = tmp_path / "log.key"
    log_key.write_text(Ed25519Signer.generate("onshi.test/access-log").key_string())
    defaults = {
        "ONSHI_LOG_SIGNING_KEY_FILE": str(log_key),
        "ONSHI_ENV": "production",
        "ONSHI_CHALLENGE_KEY": PRODUCTION_KEY,
        "ONSHI_JPKI_CA_FILES": json.dumps([str(own)]),
        "ONSHI_JPKI_CRL_FILES": json.dumps([str(tmp_path / "own.crl")]),
        "ONSHI_ISSUER_DIRECTORY_FILES": json.dumps([str(tmp_path / "directory.json")]),
    }
    for name, value in {**defaults, **env}.items():
        monkeypatch.setenv(name, value)
    return Settings()


def committed_ca() -> profile.TestCa:
    key = serialization.load_pem_private_key(
        (FIXTURES / "ca" / "auth_ca.key.pem").read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    certificate = x509.load_pem_x509_certificate((FIXTURES / "ca" / "auth_ca.pem").read_bytes())
    return profile.TestCa(CaKind.AUTH, certificate, key)


def own_ca_file(tmp_path: Path) -> Path:
    """A CA of the deployment's own (a fresh key), as a PEM file."""
    ca = create_ca(CaKind.AUTH, rsa.generate_private_key(public_exponent=65537, key_size=2048), NOW)
    path = tmp_path / "own_ca.pem"
    path.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    return path


def test_development_runs_on_the_defaults_when_asked_for_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "development")
    assert Settings().challenge_key_bytes == DEVELOPMENT_CHALLENGE_KEY.encode()


def test_an_unset_env_means_production_and_refuses_the_development_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ONSHI_ENV", raising=False)
    with pytest.raises(ValidationError, match="ONSHI_ENV is not set, which means production"):
        Settings()


def test_an_unknown_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHI_ENV", "dev")
    with pytest.raises(ValidationError, match="ONSHI_ENV"):
        Settings()


def test_production_runs_with_its_own_key_and_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert production(monkeypatch, tmp_path).challenge_key_bytes == PRODUCTION_KEY.encode()


def test_the_development_challenge_key_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="ONSHI_CHALLENGE_KEY") as raised:
        production(monkeypatch, tmp_path, ONSHI_CHALLENGE_KEY=DEVELOPMENT_CHALLENGE_KEY)
    assert DEVELOPMENT_CHALLENGE_KEY not in str(raised.value)


FILES = [
    ("ONSHI_JPKI_CA_FILES", "ca/auth_ca.pem"),
    ("ONSHI_JPKI_CRL_FILES", "crl/auth_ca.crl"),
    ("ONSHI_ISSUER_DIRECTORY_FILES", "directory.json"),
]


@pytest.mark.parametrize(("variable", "fixture"), FILES)
def test_the_test_issuer_named_by_relative_path_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, fixture: str
) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(ValidationError, match=variable):
        production(monkeypatch, tmp_path, **{variable: json.dumps([f"fixtures/issuer/{fixture}"])})


@pytest.mark.parametrize(("variable", "fixture"), FILES)
def test_the_test_issuer_named_by_absolute_path_from_elsewhere_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, fixture: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match=variable):
        production(monkeypatch, tmp_path, **{variable: json.dumps([str(FIXTURES / fixture)])})


@pytest.mark.parametrize(("variable", "fixture"), FILES)
def test_a_copy_of_the_test_issuer_is_refused_wherever_it_lies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, fixture: str
) -> None:
    copy = tmp_path / "elsewhere" / "trust"
    shutil.copytree(FIXTURES, copy)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match=variable):
        production(monkeypatch, tmp_path, **{variable: json.dumps([str(copy / fixture)])})


def test_the_committed_ca_key_under_another_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A new self-signed CA certificate made with the committed (public) key."""
    ca = committed_ca()
    name = x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Innocent CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    path = tmp_path / "innocent.pem"
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    with pytest.raises(ValidationError, match="ONSHI_JPKI_CA_FILES"):
        production(monkeypatch, tmp_path, ONSHI_JPKI_CA_FILES=json.dumps([str(path)]))


def test_a_fresh_crl_signed_with_the_committed_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    crl = build_crl(committed_ca(), [], NOW, NOW + dt.timedelta(days=1), number=99)
    path = tmp_path / "fresh.crl"
    path.write_bytes(crl.public_bytes(Encoding.DER))
    with pytest.raises(ValidationError, match="ONSHI_JPKI_CRL_FILES"):
        production(monkeypatch, tmp_path, ONSHI_JPKI_CRL_FILES=json.dumps([str(path)]))


def test_an_edited_copy_of_the_test_directory_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = json.loads((FIXTURES / "directory.json").read_text(encoding="utf-8"))
    doc["certificates"].append({**doc["certificates"][0], "serial": "12345"})
    path = tmp_path / "directory-copy.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValidationError, match="ONSHI_ISSUER_DIRECTORY_FILES"):
        production(monkeypatch, tmp_path, ONSHI_ISSUER_DIRECTORY_FILES=json.dumps([str(path)]))


def test_the_trust_store_outside_development_refuses_the_committed_ca_at_start(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "auth_ca.pem"
    shutil.copy(FIXTURES / "ca" / "auth_ca.pem", copy)
    with pytest.raises(TrustConfigurationError, match="committed test CA"):
        TrustStore([copy], [], refuse_test_material=True)
    assert TrustStore([copy], [], refuse_test_material=False).anchors().cas


def test_the_committed_ca_swapped_in_while_running_is_not_trusted(tmp_path: Path) -> None:
    """The settings check once; the store checks every file it reloads."""
    path = own_ca_file(tmp_path)
    store = TrustStore([path], [], check_interval_s=0, refuse_test_material=True)
    own = store.anchors().cas[0].certificate
    shutil.copy(FIXTURES / "ca" / "auth_ca.pem", path)
    assert [ca.certificate for ca in store.anchors().cas] == [own]


def test_the_committed_crl_is_ignored_by_the_trust_store_outside_development(
    tmp_path: Path,
) -> None:
    """Paired with the committed CA in development, it is used; outside, it is not."""
    ca, crl = tmp_path / "ca.pem", tmp_path / "ca.crl"
    shutil.copy(FIXTURES / "ca" / "auth_ca.pem", ca)
    shutil.copy(FIXTURES / "crl" / "auth_ca.crl", crl)
    assert TrustStore([ca], [crl]).anchors().cas[0].crl is not None
    store = TrustStore([own_ca_file(tmp_path)], [crl], refuse_test_material=True)
    assert store.anchors().cas[0].crl is None


def test_the_issuer_directory_outside_development_refuses_the_committed_one(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "directory.json"
    shutil.copy(FIXTURES / "directory.json", copy)
    with pytest.raises(IssuerDirectoryError, match="committed test issuer"):
        FileIssuerDirectory([copy], refuse_test_material=True)
    FileIssuerDirectory([copy])  # development: accepted


def test_the_manifest_describes_the_committed_fixtures() -> None:
    """`make fixtures` rewrites it; a regenerated fixture set without it fails here."""
    assert describe(FIXTURES) == json.loads(MANIFEST.read_text(encoding="utf-8"))


def test_a_short_challenge_key_is_refused_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes") as raised:
        production(monkeypatch, tmp_path, ONSHI_CHALLENGE_KEY="short-secret-value")
    assert "short-secret-value" not in str(raised.value)
