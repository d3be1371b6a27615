"""File names of the folder interface (docs/file-interface.md): which request a file
is, what its answer is called. Pure."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from enum import StrEnum

from clinic_client.connector.logtext import loggable

REQUEST_SUFFIX = ".xml"
NAME_MAX_BYTES = 255  # the longest file name Linux file systems (and SMB shares) take
FACE_PREFIX = "OQSsiquc01res_face_"
# 目視確認用パスコード取得 (OQS-IF-049/050): the real file name is not known; chosen here
# [unconfirmed] after the others' pattern, and kept in this one constant.
VISUAL_PASSCODE_KIND = "OQSsipcd01"
_FACE_TIME = re.compile(r"[0-9]{14}")  # ASCII only: \d would take ２ too
_FACE_UNIQUE = re.compile(r"[0-9A-Za-z]+")


class RequestKind(StrEnum):
    """The request files of docs/file-interface.md, by their name prefix."""

    SINGLE = "OQSsiquc01"  # 個別照会
    BATCH = "OQSmuquc01"  # 一括照会, step 1: the batch, answered with a ReceptionNumber
    BATCH_FETCH = "OQSmuquc02"  # 一括照会, step 2: the result, fetched by ReceptionNumber
    REGISTER_SINGLE = "OQSsiimm01"  # 照会番号登録: the clinic's own number for a patient
    REGISTER_BULK = "OQSmuimm01"  # 照会番号一括登録
    VISUAL_PASSCODE = VISUAL_PASSCODE_KIND  # 目視確認用パスコード取得 [unconfirmed name]


_REQUEST = re.compile(
    f"^({'|'.join(re.escape(kind.value) for kind in RequestKind)})req_(.*)(?i:\\.xml)$"
)


@dataclass(frozen=True, slots=True)
class RequestName:
    """A file found in `req/`: its kind and id when the name is one of docs/file-interface.md."""

    file_name: str
    kind: RequestKind | None
    request_id: str | None

    @classmethod
    def parse(cls, file_name: str) -> RequestName:
        match = _REQUEST.match(file_name)
        if match is None:
            return cls(file_name, None, None)
        prefix, request_id = match.groups()
        kind = next((k for k in RequestKind if k.value == prefix), None)
        return cls(file_name, kind, request_id or None)

    @property
    def answer_name(self) -> str:
        """`<kind>res_<id>.xml`; a file whose kind or id cannot be read is answered as
        `<its name without .xml>_res.xml`, so its answer is still found next to it. (A
        name too long for that is cut, and a hash of the whole name keeps it apart.)"""
        if self.kind is not None and self.request_id is not None:
            return f"{self.kind.value}res_{self.request_id}{REQUEST_SUFFIX}"
        stem = (
            self.file_name[: -len(REQUEST_SUFFIX)]
            if is_request_file(self.file_name)
            else self.file_name
        )
        suffix = f"_res{REQUEST_SUFFIX}"
        if len(os.fsencode(stem + suffix)) <= NAME_MAX_BYTES:
            return stem + suffix
        digest = hashlib.sha256(os.fsencode(self.file_name)).hexdigest()[:12]
        suffix = f"~{digest}{suffix}"
        while len(os.fsencode(stem + suffix)) > NAME_MAX_BYTES:
            stem = stem[:-1]
        return stem + suffix

    @property
    def label(self) -> str:
        """How the log names the request: the id, or the file name, escaped so that it
        stays on its line (a name may hold a newline and a forged log line after it)."""
        return loggable(self.request_id if self.request_id is not None else self.file_name)


def is_request_file(file_name: str) -> bool:
    """Files in `req/` that the connector answers: `*.xml`, not hidden. Anything else (a
    writer's `.tmp`, `Thumbs.db`) is left alone."""
    return file_name.lower().endswith(REQUEST_SUFFIX) and not file_name.startswith(".")


def face_result_name(*, unique: str, timestamp: str) -> str:
    """`OQSsiquc01res_face_<unique>_<YYYYMMDDHHmmss>.xml` (docs/file-interface.md, face
    results). The time comes last because clinic software that watches `face/` takes only
    names ending in `_` and 14 digits before `.xml`; `unique` (letters and digits, no `_`)
    keeps two checks in the same second apart. Anything else is a `ValueError`."""
    if not _FACE_TIME.fullmatch(timestamp):
        raise ValueError("face result: the time must be 14 digits, YYYYMMDDHHmmss")
    if not _FACE_UNIQUE.fullmatch(unique):
        raise ValueError("face result: the unique part must be letters and digits")
    return f"{FACE_PREFIX}{unique}_{timestamp}{REQUEST_SUFFIX}"
