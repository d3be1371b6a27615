"""Noticing that configuration files changed, without reading them."""

from __future__ import annotations

from pathlib import Path

FileStamp = tuple[tuple[int, int], ...]


def file_stamp(paths: list[Path]) -> FileStamp:
    """Modification time and size of each path ((-1, -1) for a missing one)."""
    stamps = []
    for path in paths:
        try:
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append((-1, -1))
    return tuple(stamps)
