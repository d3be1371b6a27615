"""What the portal app hands the page to check access records by: the keys of this PC's own
settings and the server's checkpoint, and which setting is missing, by name."""

from __future__ import annotations

import datetime as dt

from clinic_client.portal_web.app import LogCheck
from clinic_client.portal_web.words import history_rows, missing_keys_words
from qualification_server.contract.schemas import AccessEntry, AccessHistory


def _entry(**proof: object) -> AccessEntry:
    return AccessEntry(
        recorded_at=dt.datetime(2026, 12, 2, 3, 4, tzinfo=dt.UTC), clinic_code=None,
        clinic_name=None, method="portal", reference=None, outcome="ok", result="done",
        **proof,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_verification_is_the_apps_keys_with_the_servers_checkpoint() -> None:
    check = LogCheck("log+1+AA", ("w+2+BB",), "onshi.test/access-log")
    assert check.verification("note\n") == {
        "log_key": "log+1+AA",
        "witness_keys": ["w+2+BB"],
        "origin": "onshi.test/access-log",
        "checkpoint": "note\n",
        "missing": None,
    }


def test_a_missing_key_is_named_by_its_setting() -> None:
    none = LogCheck().verification(None)["missing"]
    assert "ONSHI_CLINIC_LOG_KEY・ONSHI_CLINIC_LOG_WITNESS_KEYS" in none
    witness = LogCheck("log+1+AA").verification(None)["missing"]
    assert (
        "（ONSHI_CLINIC_LOG_WITNESS_KEYS）" in witness and "ONSHI_CLINIC_LOG_KEY・" not in witness
    )
    assert missing_keys_words(log_key=True, witness_keys=True) is None


def test_each_row_carries_its_proof_or_none_before_it_is_sealed() -> None:
    history = AccessHistory(
        entries=[
            _entry(),
            _entry(leaf="AAE=", leaf_index=3, inclusion_proof=None),
            _entry(leaf="AAE=", leaf_index=2, inclusion_proof=["h1", "h2"]),
        ]
    )
    assert [row["proof"] for row in history_rows(history)] == [
        None,
        {"leaf": "AAE=", "index": 3, "proof": None},
        {"leaf": "AAE=", "index": 2, "proof": ["h1", "h2"]},
    ]
