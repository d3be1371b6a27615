"""`card-reader` as a user meets it: its commands and its messages for each failure."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from card_reader.cli import EXIT_BLOCKED, EXIT_NO_CARD, EXIT_NO_READER, EXIT_WRONG_PIN, app
from card_reader.core.jpki import JpkiFile
from card_reader.emulator.image import CardKind, Secret, load_image
from card_reader.emulator.vpcd import vpcd_reader_name
from card_reader.transports.pcsc import PcscReaders
from tests.support.cards import REPO, InsertedCard

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


# --- issuing -------------------------------------------------------------------------


def test_issue_revoke_renew(tmp_path: Path) -> None:
    out = tmp_path / "issuer"
    residents = str(REPO / "fixtures" / "residents.json")
    code, text = invoke("issue", "--residents", residents, "--out", str(out), "--only", "sato-yui")
    assert code == 0, text
    card = out / "cards" / "sato-yui.json"
    assert "issued" in text
    assert card.exists()
    serial = x509.load_der_x509_certificate(
        load_image(card).jpki_files[JpkiFile.AUTH_CERT]
    ).serial_number

    code, text = invoke("renew", "--issuer", str(out), str(card))
    assert code == 0, text
    assert "new serial" in text

    code, text = invoke("revoke", "--issuer", str(out), "--serial", str(serial))
    assert code != 0
    assert "already revoked" in text

    code, text = invoke("revoke", "--issuer", str(out), str(card), "--reason", "keyCompromise")
    assert code == 0, text
    crl = x509.load_der_x509_crl((out / "crl" / "auth_ca.crl").read_bytes())
    assert len(crl) == 2


def test_issue_makes_a_face_card_and_a_phone_when_the_resident_asks(tmp_path: Path) -> None:
    residents = json.loads((REPO / "fixtures" / "residents.json").read_text())
    person = {**residents[0], "card": "face_card", "smartphone": True}
    chosen = tmp_path / "residents.json"
    chosen.write_text(json.dumps([person], ensure_ascii=False))
    out = tmp_path / "issuer"
    code, text = invoke("issue", "--residents", str(chosen), "--out", str(out))
    assert code == 0, text
    label = person["label"]
    assert load_image(out / "cards" / f"{label}.json").kind is CardKind.FACE_CARD
    assert load_image(out / "cards" / f"{label}-phone.json").kind is CardKind.SMARTPHONE
    assert "phone_auth_ca.crl" in text
    code, text = invoke("issue", "--residents", str(chosen), "--out", str(out))
    assert code == 1
    assert "already issued" in text


def test_issue_refuses_an_unknown_card_kind(tmp_path: Path) -> None:
    residents = json.loads((REPO / "fixtures" / "residents.json").read_text())
    chosen = tmp_path / "residents.json"
    chosen.write_text(json.dumps([{**residents[0], "card": "watch"}], ensure_ascii=False))
    code, text = invoke("issue", "--residents", str(chosen), "--out", str(tmp_path / "o"))
    assert code == 1
    assert "card" in text and "face_card" in text


def test_issue_names_a_bad_resident_field(tmp_path: Path) -> None:
    bad = tmp_path / "residents.json"
    bad.write_text(
        '[{"label": "x", "my_number": "123456789010", "name": "n", "name_kana": "k",'
        ' "birth_date": "2000-01-01", "sex": "1", "address": "a"}]'
    )
    code, text = invoke("issue", "--residents", str(bad), "--out", str(tmp_path / "o"))
    assert code == 1
    assert "my_number" in text
    assert "check digit" in text
    assert "123456789010" not in text


def test_issue_refuses_a_pin_that_is_not_four_digits(tmp_path: Path) -> None:
    residents = str(REPO / "fixtures" / "residents.json")
    code, text = invoke(
        "issue", "--residents", residents, "--out", str(tmp_path), "--only", "ito-mai",
        "--pin", "12345",
    )  # fmt: skip
    assert code == 1
    assert "4 digits" in text


def test_settings_refuse_the_development_key_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONSHI_ENV", "production")
    residents = str(REPO / "fixtures" / "residents.json")
    code, text = invoke("issue", "--residents", residents, "--out", str(tmp_path))
    assert code == 1
    assert "development key" in text


def test_issue_with_no_env_set_refuses_the_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset means production: test cards under the public key are asked for by name."""
    monkeypatch.delenv("ONSHI_ENV", raising=False)
    monkeypatch.delenv("ONSHI_PSEUDONYM_KEY", raising=False)
    residents = str(REPO / "fixtures" / "residents.json")
    code, text = invoke("issue", "--residents", residents, "--out", str(tmp_path))
    assert code == 1
    assert "ONSHI_ENV is not set" in text
    assert not (tmp_path / "directory.json").exists()


# --- reading a card through pcscd ---------------------------------------------------------

pcsc = pytest.mark.pcsc


@pcsc
def test_readers_lists_slots(inserted: InsertedCard) -> None:
    code, text = invoke("readers")
    assert code == 0
    assert f"{inserted.reader}\tcard" in text
    assert f"{vpcd_reader_name(1)}\tempty" in text


@pcsc
def test_status_shows_certificate_and_tries(inserted: InsertedCard) -> None:
    code, text = invoke("status", "--reader", inserted.reader)
    assert code == 0, text
    assert "O=JPKI-TEST" in text
    assert "token:           JPKIAPICCTOKEN2" in text
    assert "auth PIN:        3 tries left" in text
    for line in (
        "入力補助AP 0011: 3",
        "入力補助AP 0014: 10",
        "入力補助AP 0015: 10",
        "券面AP 0013: 10",
        "券面AP 0012: 10",
    ):
        assert line in text


@pcsc
def test_read_cert_prints_pem(inserted: InsertedCard) -> None:
    code, text = invoke("read-cert", "--reader", inserted.reader)
    assert code == 0
    assert x509.load_pem_x509_certificate(text.encode()).subject.rfc4514_string().endswith("C=JP")


@pcsc
def test_sign_then_wrong_pin_then_blocked(inserted: InsertedCard) -> None:
    code, text = invoke("sign", "--reader", inserted.reader, "--pin", "1234")
    assert code == 0
    assert "verified against certificate" in text
    code, text = invoke("sign", "--reader", inserted.reader, "--pin", "0000")
    assert code == EXIT_WRONG_PIN
    assert "2 tries left" in text
    invoke("sign", "--reader", inserted.reader, "--pin", "0000")
    code, text = invoke("sign", "--reader", inserted.reader, "--pin", "0000")
    assert code == EXIT_BLOCKED
    assert "blocked" in text


@pcsc
def test_no_card_in_the_reader(readers: PcscReaders) -> None:
    code, text = invoke("status", "--reader", vpcd_reader_name(1), "--timeout", "0.2")
    assert code == EXIT_NO_CARD
    assert "insert the card" in text


@pcsc
def test_no_such_reader(readers: PcscReaders) -> None:
    code, text = invoke("status", "--reader", "Absent Reader", "--timeout", "0.2")
    assert code == EXIT_NO_READER
    assert "Absent Reader" in text


@pcsc
def test_emulate_inserts_until_interrupted_and_persists_counters(
    readers: PcscReaders, card_path: Path
) -> None:
    reader = vpcd_reader_name(0)
    assert not readers.card_present(reader)
    script = shutil.which("card-reader", path=str(Path(sys.executable).parent))
    assert script is not None
    process = subprocess.Popen(
        [script, "emulate", str(card_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        readers.wait_for_card(reader, timeout_s=10)
        code, _text = invoke("sign", "--reader", reader, "--pin", "0000")
        assert code == EXIT_WRONG_PIN
    finally:
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert b"inserted into Virtual PCD 00 00" in stdout
    assert b"removed" in stdout
    assert readers.wait_for_removal(reader, timeout_s=5)
    assert load_image(card_path).pins[Secret.AUTH_PIN].tries_left == 2
    InsertedCard.settle()
