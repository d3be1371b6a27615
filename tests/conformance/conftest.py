"""The kit, made once per module and copied for each test (a run changes its files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clinic_client.conformance.kit import Kit, create_kit
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY


@pytest.fixture(scope="module")
def kit_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit") / "kit"
    create_kit(root, pseudonym_key=DEVELOPMENT_PSEUDONYM_KEY)
    return root


@pytest.fixture
def kit(kit_template: Path, tmp_path: Path) -> Kit:
    root = tmp_path / "kit"
    shutil.copytree(kit_template, root)
    return Kit.load(root)
