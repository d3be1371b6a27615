"""The ASGI application for uvicorn workers, wired from the environment's settings."""

from __future__ import annotations

from qualification_server.app import build_dependencies, create_app
from qualification_server.settings import Settings

app = create_app(build_dependencies(Settings()))
