"""The page checks each record of the person's access history itself, in Chromium, with
transparency.js and the keys of the portal app's own settings: every record in the witnessed
tree shows ✓, one newer than the checkpoint 確認待ち, every proved one ✗ with the reason when
the witness key configured is not the one that cosigned, and the page says which setting is
missing when none is. 証明データを保存 downloads what `clinic log verify-history` reads, and
those proofs verify with the kernel."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from card_reader.pcscd import Pcscd
from clinic_client.log_audit import verify_history
from clinic_client.portal_web.app import LogCheck
from clinic_client.portal_web.words import japan_time_text
from onshi_kernel.transparency import merkle
from onshi_kernel.transparency.checkpoint import WitnessSigner, open_checkpoint
from onshi_kernel.transparency.note import Ed25519Signer
from qualification_server.access_log.checkpoints import Checkpointer, LogIdentity
from tests.portal_web.conftest import Portal, serve_portal
from tests.qualification_server.test_access_tree import NOW, ORIGIN, FakeWitness, seal_all
from tests.support.world import World

pytestmark = [pytest.mark.pcsc, pytest.mark.db]

OK = "✓ 改ざんされていません"
PENDING = "確認待ち（次の記録の確定後に確認できます）"


@dataclass(frozen=True)
class Log:
    key: Ed25519Signer
    witness: FakeWitness

    def check(self, *, witness_key: str | None = None, origin: str | None = ORIGIN) -> LogCheck:
        """The portal app's settings: the log's key and a witness's key (the real one unless
        another is given)."""
        wanted = witness_key or self.witness.key.verifier().key_string()
        return LogCheck(self.key.verifier().key_string(), (wanted,), origin)


@pytest.fixture
def log(world: World) -> Log:
    """yamada-taro registered and checked three times, all sealed and in a checkpoint a
    witness cosigned; then one check sealed after it and one not sealed at all."""
    world.register("yamada-taro")
    for _ in range(3):
        status, _ = world.check("yamada-taro")
        assert status == 200
    key = Ed25519Signer.generate(ORIGIN)
    witness = FakeWitness(key)
    seal_all(world)
    signed = Checkpointer(world.deps.sessions, LogIdentity(ORIGIN, key), [witness]).run_once()
    assert signed is not None
    assert world.check("yamada-taro")[0] == 200
    seal_all(world)  # sealed, in no witnessed tree yet
    assert world.check("yamada-taro")[0] == 200  # not sealed
    return Log(key, witness)


@contextlib.contextmanager
def signed_in(world: World, browser: Browser, check: LogCheck | None) -> Iterator[Portal]:
    with serve_portal(world, browser, check) as portal:
        portal.insert("yamada-taro")
        portal.login()
        expect(portal.page.locator("#screen-home")).to_be_visible()
        yield portal


def proof_cells(portal: Portal) -> list[str]:
    cells = portal.page.locator("#history tbody tr td.proof")
    expect(cells.first).not_to_have_text("確認しています…")
    expect(
        portal.page.locator("#history tbody tr td.proof", has_text="確認しています")
    ).to_have_count(0)
    return [c.strip() for c in cells.all_inner_texts()]


def test_every_witnessed_record_shows_verified_and_a_newer_one_waits(
    world: World, pcscd: Pcscd, browser: Browser, log: Log, tmp_path: Path
) -> None:
    with signed_in(world, browser, log.check()) as portal:
        cells = proof_cells(portal)
        # newest first: two checks after the checkpoint, then three checks and the registration
        assert cells == [PENDING, PENDING, OK, OK, OK, OK]
        when = japan_time_text(NOW)
        witness = f"witness.test/one（{when}に確認）"
        expect(portal.page.locator("#history-proofs")).to_have_text(
            "6件のうち4件の記録が改ざんされていないことを確認しました"
            f"（確定した記録の木：4件、立会人：{witness}）。"
            "2件は確認待ちです（次の記録の確定後に確認できます）。"
        )
        first = portal.page.locator("#history tbody tr td.proof").nth(2)
        expect(first).to_have_attribute("title", f"記録の木の大きさ 4、{witness}")
        portal.shot("portal-history-proofs")
        for moment in (NOW, dt.datetime(2019, 4, 30, 15, 0, tzinfo=dt.UTC),
                       dt.datetime(2019, 4, 30, 14, 59, tzinfo=dt.UTC),
                       dt.datetime(2026, 12, 31, 15, 5, tzinfo=dt.UTC)):  # fmt: skip
            said = portal.page.evaluate("t => japanTime(new Date(t))", moment.timestamp() * 1000)
            assert said == japan_time_text(moment)  # the page's dates are the app's words

        save = portal.page.locator("#history-save")
        save.focus()  # reachable from the keyboard
        with portal.page.expect_download() as download:
            portal.page.keyboard.press("Enter")
        assert download.value.suggested_filename == "onshi-access-proofs.json"
        saved = tmp_path / "onshi-access-proofs.json"
        download.value.save_as(saved)

    document = json.loads(saved.read_text(encoding="utf-8"))
    assert set(document) == {"checkpoint", "entries"}
    assert len(document["entries"]) == 6
    for entry in document["entries"]:
        assert set(entry) == {"leaf", "leaf_index", "inclusion_proof", "recorded_at"}
        dt.datetime.fromisoformat(entry["recorded_at"])
    checkpoint = open_checkpoint(document["checkpoint"], log.key.verifier(), ORIGIN)
    proved = [e for e in document["entries"] if e["inclusion_proof"] is not None]
    assert len(proved) == 4
    for entry in proved:
        merkle.verify_inclusion(
            merkle.leaf_hash(base64.b64decode(entry["leaf"])), entry["leaf_index"],
            checkpoint.size, [base64.b64decode(h) for h in entry["inclusion_proof"]],
            checkpoint.root,
        )  # fmt: skip
    assert document["entries"][1]["leaf"] is not None  # sealed after the checkpoint
    assert document["entries"][0]["leaf"] is None  # not sealed
    # What the lead's `clinic log verify-history` reads: the same verdicts.
    _, checks = verify_history(
        document, log.key.verifier().key_string(), [log.witness.key.verifier().key_string()],
        ORIGIN,
    )  # fmt: skip
    assert [c.verdict for c in checks] == ["pending", "pending"] + ["verified"] * 4


def test_a_witness_key_that_did_not_cosign_fails_every_record_with_the_reason(
    world: World, pcscd: Pcscd, browser: Browser, log: Log
) -> None:
    other = WitnessSigner.generate("witness.test/one").verifier().key_string()
    with signed_in(world, browser, log.check(witness_key=other)) as portal:
        cells = proof_cells(portal)
        failed = "✗ 確認できません：the checkpoint has no cosignature by a configured witness"
        assert cells == [PENDING, PENDING] + [failed] * 4
        for cell in portal.page.locator("#history tbody tr td.proof.failed").all():
            assert cell.evaluate("c => getComputedStyle(c).color") == "rgb(179, 38, 30)"
        summary = portal.page.locator("#history-proofs")
        expect(summary).to_contain_text("4件の記録は確認できませんでした")
        expect(summary).to_have_class("proofs failed")
        portal.shot("portal-history-proofs-failed")


def test_another_logs_origin_fails_with_the_reason(
    world: World, pcscd: Pcscd, browser: Browser, log: Log
) -> None:
    with signed_in(world, browser, log.check(origin="onshi.example/other-log")) as portal:
        cells = proof_cells(portal)
        assert cells[2:] == [f"✗ 確認できません：the checkpoint is for another log: {ORIGIN}"] * 4


def test_without_keys_the_page_says_which_setting_is_missing(
    world: World, pcscd: Pcscd, browser: Browser, log: Log
) -> None:
    with signed_in(world, browser, None) as portal:
        cells = proof_cells(portal)
        assert cells == ["確認用の鍵が設定されていません"] * 6
        expect(portal.page.locator("#history-proofs")).to_contain_text(
            "ONSHI_CLINIC_LOG_KEY・ONSHI_CLINIC_LOG_WITNESS_KEYS"
        )
        expect(portal.page.locator("#history-save")).to_be_visible()  # the proofs still kept
        portal.shot("portal-history-no-keys")
    only_log = LogCheck(log.key.verifier().key_string(), (), ORIGIN)
    with signed_in(world, browser, only_log) as portal:
        proof_cells(portal)
        summary = portal.page.locator("#history-proofs")
        expect(summary).to_contain_text("（ONSHI_CLINIC_LOG_WITNESS_KEYS）")
        expect(summary).not_to_contain_text("ONSHI_CLINIC_LOG_KEY・")
