"""The ASGI application for uvicorn workers, wired from the environment's settings."""

from __future__ import annotations

from onshi_kernel.logs import configure_logging
from qualification_server.api.app import build_dependencies, create_app
from qualification_server.settings import Settings

configure_logging()  # each uvicorn worker is a process of its own
app = create_app(build_dependencies(Settings()))
