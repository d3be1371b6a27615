"""`python -m qualification_server.witness`: the witness's commands."""

from __future__ import annotations

from qualification_server.witness.cli import main

main()
