"""Bulk registration through the API: the CSV is the request body (`text/csv`)."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from insurer_registry.api.deps import (
    IdempotencyKeyDep,
    InsurerCallerDep,
    RegisterDep,
    SessionsDep,
    SettingsDep,
    caller_insurer,
)
from insurer_registry.api.http_errors import ANSWERS, error_responses
from insurer_registry.api.idempotency import StoredAnswer, fingerprint, idempotent_write
from insurer_registry.error_codes import RegistryCode
from insurer_registry.importer.schemas import ImportReportPublic
from insurer_registry.importer.service import import_csv

router = APIRouter(prefix="/v1", tags=["imports"])
SPOOL_IN_MEMORY_BYTES = 1 << 20
# About a million members (a row is some 200 bytes): an insurer's own file through the API.
# Larger files go through the operator's CLI, which reads them from disk. Checked against
# Content-Length before the body is read, and again as it streams in (chunked uploads).
MAX_UPLOAD_BYTES = 256 << 20


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportReportPublic,
    summary="Import members from CSV",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
            "description": "UTF-8 or Shift_JIS (CP932); columns as in the registry README",
        }
    },
    responses=error_responses(
        {
            401: f"missing, unknown or revoked credential (`{RegistryCode.INVALID_CREDENTIAL}`)",
            409: f"a reused Idempotency-Key (`{RegistryCode.IDEMPOTENCY_KEY_REUSED}`)",
            413: f"over {MAX_UPLOAD_BYTES >> 20} MiB, not imported "
            f"(`{RegistryCode.UPLOAD_TOO_LARGE}`)",
            422: f"a file that cannot be read (`{RegistryCode.INVALID_FILE}`), or rows rejected "
            f"(`{RegistryCode.IMPORT_REJECTED}`: nothing imported, the report is in the error)",
        }
    ),
)
async def import_members(
    request: Request,
    caller: InsurerCallerDep,
    key: IdempotencyKeyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    register: RegisterDep,
    partial: Annotated[
        bool, Query(description="import the good rows even if some are rejected")
    ] = False,
) -> Response:
    """Import the calling insurer's members; rows of other insurers are rejected. All or
    nothing unless `partial=true`. Re-sending the same file changes nothing. Every row is
    matched against the card issuer's four items: one that does not match is imported but
    held (listed in `HeldLines`, not answered to clinics)."""
    insurer = caller_insurer(caller)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        return _too_large(request)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as body:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_UPLOAD_BYTES:
                return _too_large(request)
            body.write(chunk)
        body.seek(0)
        # The request is identified by the file's content, not held in memory to hash.
        digest = await run_in_threadpool(_sha256, body)

        def work(session: Session) -> StoredAnswer:
            body.seek(0)
            report = import_csv(
                session=session,
                source=body,  # type: ignore[arg-type]
                pseudonym_key=settings.pseudonym_bytes,
                actor=caller.actor(key),
                register=register,
                insurer=insurer,
                partial=partial,
                match_batch_rows=settings.import_batch_rows,
            )
            public = ImportReportPublic.of(report)
            return StoredAnswer(201, public.model_dump_json(by_alias=True))

        payload: Any = {"sha256": digest, "partial": partial}
        answer = await run_in_threadpool(
            idempotent_write,
            sessions=sessions,
            insurer_id=insurer.id,
            key=key,
            request_hash=fingerprint(
                "POST", request.url.path, payload, pseudonym_key=settings.pseudonym_bytes
            ),
            work=work,
        )
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")


def _too_large(request: Request) -> Response:
    detail = f"the CSV is larger than {MAX_UPLOAD_BYTES} bytes"
    return ANSWERS.answer(request, RegistryCode.UPLOAD_TOO_LARGE, detail=detail)


def _sha256(body: Any) -> str:
    digest = hashlib.sha256()
    while chunk := body.read(1 << 16):
        digest.update(chunk)
    return digest.hexdigest()
