"""One request answered: its bytes read, the server asked, the answer file's bytes made.
No files here: the spool hands the bytes in and writes the answer out.

A refusal by the server becomes an error answer with its `Q…` code; a request the
connector cannot read, one with its `C…` code. A server that cannot answer *now* (no
connection, HTTP 429 or 503, a gateway's error page) raises `ServerOutage` instead: the
request waits and is tried again, because an error answer for a passing outage would make the
front desk give up on a patient who is eligible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from clinic_client.api import QualificationClient, ServerError, ServerRefused, ServerUnreachable
from clinic_client.connector.answers import (
    BatchLayout,
    batch_receipt_file,
    batch_result_file,
    bulk_registration_answer_file,
    eligibility_answer_file,
    error_answer_file,
    passcode_answer_file,
    registration_answer_file,
)
from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.names import RequestName
from clinic_client.connector.requests import (
    BatchFetchRequest,
    BatchRequest,
    BulkRegistrationRequest,
    PasscodeRequest,
    RegistrationRequest,
    RejectedEntry,
    Request,
    SingleRequest,
    read_request,
)

T = TypeVar("T")


class BatchStore(Protocol):
    """Where the connector keeps a batch's layout between its two steps (the spool)."""

    def keep(self, reception_number: str, layout: BatchLayout) -> None: ...

    def kept(self, reception_number: str) -> BatchLayout | None: ...


TRANSIENT_STATUSES = frozenset({429, 503})  # Q4002 too many lookups; Q9002, Q1006 unavailable


class ServerOutage(Exception):
    """The server cannot answer now; the request is kept and tried again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # no personal data: an address, an HTTP status, a code


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer file to write into `res/`. `refused_file` is true when the connector
    refused the request file itself (a `C…` code): the request is kept in `rejected/`."""

    file_name: str
    data: bytes
    outcome: str  # for the log: a code or a validity, never personal data
    refused_file: bool = False
    # A refusal's code, for IT's log line: `C…` the connector's (a refused file), `Q…` the
    # server's (a refused check); None for an answer.
    code: str | None = None


def answer_request(
    name: RequestName,
    data: bytes,
    client: QualificationClient,
    *,
    now: dt.datetime,
    batches: BatchStore,
) -> Answer:
    """The answer to the request file `name` holding `data`; `ServerOutage` if it must wait.
    `batches` keeps what a 一括照会's second step needs of its first."""
    try:
        if name.kind is None or name.request_id is None:
            raise RequestRejected(ConnectorCode.UNKNOWN_REQUEST)
        return _ask(name, data, read_request(name.kind, data), client, batches, now)
    except RequestRejected as exc:
        return refusal(name, exc, clinic_code=client.clinic_code, now=now)


def refusal(
    name: RequestName, rejected: RequestRejected, *, clinic_code: str | None, now: dt.datetime
) -> Answer:
    """The error answer to a request file the connector refuses itself (a `C…` code);
    `clinic_code` is the connector's own, for the answer's header."""
    data = error_answer_file(
        code=rejected.code.value, message=rejected.info.front_desk, detail=rejected.detail,
        header=rejected.header, clinic_code=clinic_code, encoding=rejected.encoding, now=now,
    )  # fmt: skip
    return Answer(
        name.answer_name, data, f"refused {rejected.code.value}", refused_file=True,
        code=rejected.code.value,
    )  # fmt: skip


def internal_error_answer(
    name: RequestName, *, clinic_code: str | None, now: dt.datetime
) -> Answer:
    """What a request gets when the connector itself failed on it (C9001), never silence."""
    return refusal(name, RequestRejected(ConnectorCode.INTERNAL), clinic_code=clinic_code, now=now)


def _ask(
    name: RequestName,
    data: bytes,
    request: Request,
    client: QualificationClient,
    batches: BatchStore,
    now: dt.datetime,
) -> Answer:
    header = request.header
    try:
        if isinstance(request, SingleRequest):
            answer = _server(lambda: client.lookup(
                request.query, confirmation_date=header.confirmation_date,
                arbitrary_file_identifier=header.arbitrary_file_identifier,
            ))  # fmt: skip
            return Answer(
                name.answer_name,
                eligibility_answer_file(answer, request.encoding),
                f"validity {answer.MessageBody.QualificationValidity}",
            )
        if isinstance(request, BatchRequest):
            return _submit_batch(name, data, request, client, batches)
        if isinstance(request, BatchFetchRequest):
            result = _server(lambda: client.fetch_batch(request.reception_number))
            layout = batches.kept(request.reception_number)
            done = result.MessageHeader.SegmentOfResult != "2"
            return Answer(
                name.answer_name,
                batch_result_file(request, result, layout, clinic_code=client.clinic_code),
                f"batch {request.reception_number}: {'done' if done else 'in progress'}",
            )
        if isinstance(request, RegistrationRequest):
            entry = request.entry
            registered = _server(lambda: client.register_reference_number(
                entry.query, entry.reference_number,
                arbitrary_file_identifier=header.arbitrary_file_identifier,
            ))  # fmt: skip
            return Answer(
                name.answer_name,
                registration_answer_file(
                    registered, request.encoding, clinic_code=client.clinic_code
                ),
                "照会番号 registered",
            )
        if isinstance(request, PasscodeRequest):
            issued = _server(lambda: client.visual_passcode(
                arbitrary_file_identifier=header.arbitrary_file_identifier,
            ))  # fmt: skip
            return Answer(
                name.answer_name,
                passcode_answer_file(issued, request.encoding, clinic_code=client.clinic_code),
                "目視確認用パスコード issued",  # the passcode itself stays out of the log
            )
        return _register_bulk(name, request, client)
    except ServerRefused as refused_by_server:
        data = error_answer_file(
            code=refused_by_server.code, message=refused_by_server.message, detail=None,
            header=header, clinic_code=client.clinic_code, encoding=request.encoding, now=now,
        )  # fmt: skip
        return Answer(
            name.answer_name, data, f"refused {refused_by_server.code}",
            code=refused_by_server.code,
        )  # fmt: skip


def _submit_batch(
    name: RequestName,
    data: bytes,
    request: BatchRequest,
    client: QualificationClient,
    batches: BatchStore,
) -> Answer:
    """一括照会, step 1: the entries the connector can read go to the server, which answers a
    reception number; what the second step needs (where the refused entries were) is kept
    before the upload result is written. Sent again after a stop, the same file is the same
    batch (its Idempotency-Key is the file's name and bytes), never a second."""
    queries = request.queries
    if not queries:  # nothing to send: the file is refused whole, with its first entry's code
        first = next(e for e in request.entries if isinstance(e, RejectedEntry))
        detail = f"no entry can be looked up; the first: {first.detail}"
        raise RequestRejected(first.code, detail).within(request.encoding, request.header)
    key = hashlib.sha256(name.file_name.encode() + b"\0" + data).hexdigest()[:40]
    receipt = _server(lambda: client.submit_batch(
        queries, confirmation_date=request.header.confirmation_date,
        arbitrary_file_identifier=request.header.arbitrary_file_identifier,
        idempotency_key=key,
    ))  # fmt: skip
    number = receipt.MessageHeader.ReceptionNumber
    try:
        batches.keep(number, BatchLayout.of(request))
    except OSError as exc:  # a full disk: the file waits, and its retry is the same batch
        raise ServerOutage(f"the batch's layout could not be kept: {exc.strerror}") from None
    refused = len(request.entries) - len(queries)
    return Answer(
        name.answer_name,
        batch_receipt_file(request, receipt, clinic_code=client.clinic_code),
        f"batch {number}: {len(request.entries)} entries, {refused} refused by the connector",
    )


def _register_bulk(
    name: RequestName, request: BulkRegistrationRequest, client: QualificationClient
) -> Answer:
    """照会番号一括登録: the readable entries sent, the others refused in their place."""
    readable = request.readable
    if not readable:  # nothing to send: the file is refused whole, with its first entry's code
        first = next(e for e in request.entries if isinstance(e, RejectedEntry))
        detail = f"no entry can be registered; the first: {first.detail}"
        raise RequestRejected(first.code, detail).within(request.encoding, request.header)
    answer = _server(lambda: client.register_reference_numbers(
        [(e.query, e.reference_number) for e in readable],
        arbitrary_file_identifier=request.header.arbitrary_file_identifier,
    ))  # fmt: skip
    data = bulk_registration_answer_file(request, answer, clinic_code=client.clinic_code)
    refused = len(request.entries) - answer.MessageHeader.NumberOfNormalProcessing
    return Answer(name.answer_name, data, f"{len(request.entries)} entries, {refused} refused")


def _server(call: Callable[[], T]) -> T:
    try:
        return call()
    except ServerUnreachable as exc:
        raise ServerOutage(str(exc)) from None
    except ServerRefused as exc:
        if exc.status in TRANSIENT_STATUSES:
            raise ServerOutage(f"{exc.code} (HTTP {exc.status})") from None
        raise
    except ServerError as exc:  # an HTTP error without a numbered answer: a gateway, a proxy
        raise ServerOutage(str(exc)) from None
