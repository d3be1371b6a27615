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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clinic_client.api import QualificationClient, ServerError, ServerRefused, ServerUnreachable
from clinic_client.connector.answers import (
    batch_answer_file,
    eligibility_answer_file,
    error_answer_file,
)
from clinic_client.connector.errors import ConnectorCode, RequestRejected
from clinic_client.connector.names import RequestName
from clinic_client.connector.requests import (
    BatchRequest,
    Request,
    SingleRequest,
    read_request,
)

T = TypeVar("T")
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


def answer_request(
    name: RequestName, data: bytes, client: QualificationClient, *, now: dt.datetime
) -> Answer:
    """The answer to the request file `name` holding `data`; `ServerOutage` if it must wait."""
    try:
        if name.kind is None or name.request_id is None:
            raise RequestRejected(ConnectorCode.UNKNOWN_REQUEST)
        return _ask(name, read_request(name.kind, data), client, now)
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
    return Answer(name.answer_name, data, f"refused {rejected.code.value}", refused_file=True)


def internal_error_answer(
    name: RequestName, *, clinic_code: str | None, now: dt.datetime
) -> Answer:
    """What a request gets when the connector itself failed on it (C9001), never silence."""
    return refusal(name, RequestRejected(ConnectorCode.INTERNAL), clinic_code=clinic_code, now=now)


def _ask(
    name: RequestName, request: Request, client: QualificationClient, now: dt.datetime
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
            queries = request.queries
            batch = (
                _server(lambda: client.batch(queries, confirmation_date=header.confirmation_date))
                if queries
                else None
            )
            refused = len(request.entries) - len(queries)
            refused += batch.MessageHeader.NumberOfError if batch else 0
            return Answer(
                name.answer_name,
                batch_answer_file(request, batch, clinic_code=client.clinic_code, now=now),
                f"{len(request.entries)} entries, {refused} refused",
            )
        # 照会番号の登録: not supported (README), answered so the receipt computer knows.
        raise RequestRejected(ConnectorCode.NOT_SUPPORTED).within(request.encoding, header)
    except ServerRefused as refused_by_server:
        data = error_answer_file(
            code=refused_by_server.code, message=refused_by_server.message, detail=None,
            header=header, clinic_code=client.clinic_code, encoding=request.encoding, now=now,
        )  # fmt: skip
        return Answer(name.answer_name, data, f"refused {refused_by_server.code}")


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
