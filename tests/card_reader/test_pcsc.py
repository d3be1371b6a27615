"""The JPKI flow through the real reader stack: pyscard → pcscd → vpcd → emulated card."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from card_reader.core.errors import CardRemoved, NoCard, NoReader, PinBlocked, PinError
from card_reader.core.iso7816 import IsoChannel
from card_reader.core.jpki import AID_JPKI, JpkiFile, JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.emulator.vpcd import vpcd_port, vpcd_reader_name
from card_reader.pcscd import Pcscd, PcscdError, listening_ports
from card_reader.transports.pcsc import PcscReaders
from tests.support.cards import PIN, InsertedCard

pytestmark = pytest.mark.pcsc


def test_virtual_readers_are_listed(readers: PcscReaders) -> None:
    assert {vpcd_reader_name(0), vpcd_reader_name(1)} <= set(readers.readers())


def test_full_pin_mode_check_through_pcscd(
    inserted: InsertedCard, readers: PcscReaders, card: EmulatedCard
) -> None:
    connection = readers.connect(inserted.reader)
    session = JpkiSession(connection)
    der = session.read_auth_certificate()
    signature = session.authenticate(PIN, hashlib.sha256(b"challenge").digest())
    connection.close()
    assert der == card.image.jpki_files[JpkiFile.AUTH_CERT]
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, b"challenge", padding.PKCS1v15(), hashes.SHA256())
    assert connection.apdu_count <= 12


def test_waiting_on_an_empty_reader_times_out(readers: PcscReaders) -> None:
    with pytest.raises(NoCard):
        readers.wait_for_card(vpcd_reader_name(1), timeout_s=0.3)


def test_unknown_reader_is_named(readers: PcscReaders) -> None:
    with pytest.raises(NoReader, match="Nonexistent"):
        readers.wait_for_card("Nonexistent Reader 00 00", timeout_s=0.1)


def test_card_removed_mid_read(inserted: InsertedCard, readers: PcscReaders) -> None:
    connection = readers.connect(inserted.reader)
    iso = IsoChannel(connection)
    iso.select_application(AID_JPKI)
    iso.select_file(JpkiFile.AUTH_CERT)
    assert len(iso.read_binary(0, 256)) == 256
    inserted.remove()
    with pytest.raises(CardRemoved):
        iso.read_binary(256, 256)
    connection.close()


def test_wrong_pin_to_lockout_and_lockout_survives_restart(
    inserted: InsertedCard, readers: PcscReaders, card_path: Path
) -> None:
    connection = readers.connect(inserted.reader)
    session = JpkiSession(connection)
    tries = []
    for _ in range(2):
        with pytest.raises(PinError) as info:
            session.verify_auth_pin("0000")
        tries.append(info.value.tries_left)
    with pytest.raises(PinBlocked):
        session.verify_auth_pin("0000")
    assert tries == [2, 1]
    connection.close()
    inserted.remove()

    # a new emulator process would load the image the old one saved
    restarted = EmulatedCard(load_image(card_path), on_change=lambda i: save_image(card_path, i))
    again = InsertedCard(restarted, readers)
    again.insert()
    connection = readers.connect(again.reader)
    session = JpkiSession(connection)
    assert session.auth_pin_tries_left() == 0
    with pytest.raises(PinBlocked):
        session.verify_auth_pin(PIN)
    connection.close()
    again.remove()


def test_reader_access_recovers_after_pcscd_restart(
    pcscd: Pcscd, readers: PcscReaders, card: EmulatedCard
) -> None:
    assert pcscd.owned, "this test restarts pcscd: stop the pcscd started outside the tests"
    assert readers.readers()  # the context is established
    pcscd.kill()
    pcscd.start()
    slot = InsertedCard(card, readers)
    slot.insert()  # waits for the card through the same PcscReaders
    connection = readers.connect(slot.reader)
    assert JpkiSession(connection).auth_pin_tries_left() == 3
    connection.close()
    slot.remove()


def test_a_pcscd_that_died_is_found_and_started_again_with_vpcd_listening(
    pcscd: Pcscd, readers: PcscReaders, card: EmulatedCard
) -> None:
    assert pcscd.owned, "this test kills pcscd: stop the pcscd started outside the tests"
    assert pcscd.healthy()
    assert pcscd.recover() is False  # nothing to do while it answers
    pcscd.kill()  # as a crash would leave it
    assert not pcscd.healthy()
    assert pcscd.recover() is True
    assert pcscd.healthy()
    assert listening_ports(pcscd.listen_ports) == set(pcscd.listen_ports)
    slot = InsertedCard(card, readers)
    slot.insert()  # right after the start: vpcd already listens, the card is not refused
    connection = readers.connect(slot.reader)
    assert JpkiSession(connection).auth_pin_tries_left() == 3
    connection.close()
    slot.remove()


def test_listening_ports_reads_listeners_without_connecting() -> None:
    with socket.socket() as listener, socket.socket() as bound_only:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        bound_only.bind(("127.0.0.1", 0))
        ports = {listener.getsockname()[1], bound_only.getsockname()[1]}
        assert listening_ports(ports) == {listener.getsockname()[1]}


def test_a_driver_port_that_never_listens_is_named_in_the_error(pcscd: Pcscd) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: no driver will be there
        port = holder.getsockname()[1]
        other = Pcscd(listen_ports=(port,))
        with pytest.raises(PcscdError, match=rf"nothing listens on TCP {port}"):
            other.start(timeout_s=0.3)  # the session's pcscd answers: only the port is awaited
        assert not other.owned


def _reserved_ports() -> set[int]:
    text = Path("/proc/sys/net/ipv4/ip_local_reserved_ports").read_text().strip()
    ports: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def test_vpcds_ports_are_kept_out_of_the_ephemeral_range(pcscd: Pcscd) -> None:
    """`make test` (scripts/install-system-packages.sh) reserves them when run as root."""
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("only root can reserve ports; `make test` as root does")
    assert set(pcscd.listen_ports) <= _reserved_ports()


def test_a_connection_holding_vpcds_port_is_named_and_leaves_no_pcscd_behind(
    pcscd: Pcscd,
) -> None:
    assert pcscd.owned, "this test restarts pcscd: stop the pcscd started outside the tests"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        pcscd.kill()
        client = socket.socket()  # an outgoing connection that was given vpcd's port as its own
        client.bind(("127.0.0.1", vpcd_port(0)))
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        try:
            with pytest.raises(PcscdError, match="another socket holds the port"):
                pcscd.start(timeout_s=2)
            assert not pcscd.owned  # stopped, not left running without its reader
        finally:
            accepted.close()  # the far end closes first: no TIME_WAIT left on vpcd's port
            client.recv(1)
            client.close()
    pcscd.start()
    assert pcscd.healthy()
