"""Logging of every onshi command, configured one way: `ONSHI_LOG_LEVEL` (WARNING unless a
command says otherwise) to standard error and, when `ONSHI_LOG_FILE` names a file, appended
there too (what the test run collects to check that no personal data is ever logged)."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"


def configure_logging(default_level: str = "WARNING") -> None:
    """Configure the root logger from the environment (idempotent for the file handler)."""
    level = os.environ.get("ONSHI_LOG_LEVEL", default_level).upper()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    path = os.environ.get("ONSHI_LOG_FILE")
    if path:
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
