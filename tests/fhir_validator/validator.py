"""`FHIRValidator`: validate.mjs started once, fed one resource per line.

Its Node packages are installed by `npm ci` from this folder's package-lock.json
(`scripts/run-tests.sh` does it); without them the tests that need it are skipped, except
under CI=true, where a validator that is not there is a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALL = f"npm ci --prefix {HERE.relative_to(HERE.parents[1])}"


class FHIRValidator:
    """One `node validate.mjs --lines` process for a test session."""

    def __init__(self) -> None:
        node = shutil.which("node")
        assert node, "node is not installed"
        self._process = subprocess.Popen(
            [node, str(HERE / "validate.mjs"), "--lines"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE,
        )  # fmt: skip

    def errors(self, resource: dict[str, Any]) -> list[str]:
        """What the validator finds wrong with `resource`: nothing when it is valid."""
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(resource, ensure_ascii=False) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, "the FHIR validator stopped"
        result = json.loads(line)
        return list(result["errors"])

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=10)


def _installed() -> bool:
    return (HERE / "node_modules" / "hl7.fhir.r4b.core" / "package.json").is_file() and bool(
        shutil.which("node")
    )


def session_validator() -> Iterator[FHIRValidator]:
    """The body of a session fixture (`yield from session_validator()`)."""
    if not _installed():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the FHIR validator is not installed: {INSTALL}")
        pytest.skip(f"the FHIR validator is not installed ({INSTALL})")
    validator = FHIRValidator()
    yield validator
    validator.close()
