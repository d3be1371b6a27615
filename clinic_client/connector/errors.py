"""The connector's own numbered refusals of a request file (`C…`), beside the server's `Q…`.

A request the connector cannot read is answered with one of these in `ErrorCode`, never left
without an answer. Codes never change meaning; new ones are added at the end of their hundred.
The pattern is the kernel's (`onshi_kernel.errors`): a catalogue checked complete at import,
of texts only, since these codes travel in files and have no HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from clinic_client.connector.xmlcodec import WireEncoding
from onshi_kernel.errors import ErrorText, catalogue

if TYPE_CHECKING:
    from clinic_client.connector.requests import RequestHeader


class ConnectorCode(StrEnum):
    NOT_WELL_FORMED = "C1001"
    WRONG_STRUCTURE = "C1002"
    UNREADABLE_ENCODING = "C1003"
    INVALID_VALUE = "C1004"
    INVALID_INSURER_NUMBER = "C1005"
    TOO_LARGE = "C1006"
    UNKNOWN_REQUEST = "C1007"
    NOT_SUPPORTED = "C1008"  # no longer given: 照会番号登録 is supported now
    UNREADABLE_FILE = "C1009"
    NOT_A_REGULAR_FILE = "C1010"
    INTERNAL = "C9001"


# `front_desk` is written into ErrorMessage; `it` is for the log and the README.
CATALOGUE: Mapping[ConnectorCode, ErrorText] = catalogue(ConnectorCode, {
    ConnectorCode.NOT_WELL_FORMED: ErrorText(
        "照会ファイルをXMLとして読み取れません。レセコンの出力を確認してください。",
        "The request is not well-formed XML, or it carries a DOCTYPE (refused: entity "
        "expansion is never needed in a request).",
    ),
    ConnectorCode.WRONG_STRUCTURE: ErrorText(
        "照会ファイルの構成に誤りがあります（必須項目の不足など）。",
        "The root is not XmlMsg, or a required element is missing, repeated or not text.",
    ),
    ConnectorCode.UNREADABLE_ENCODING: ErrorText(
        "照会ファイルの文字コードを判別できません。UTF-8またはShift_JISで作成してください。",
        "The declared encoding is neither UTF-8 nor Shift_JIS, or the bytes do not decode "
        "in the declared encoding (UTF-8 when none is declared).",
    ),
    ConnectorCode.INVALID_VALUE: ErrorText(
        "照会内容に誤りがあります。生年月日・枝番などの形式を確認してください。",
        "An element's value breaks its format (YYYYMMDD dates, 2-digit 枝番, lengths, flags).",
    ),
    ConnectorCode.INVALID_INSURER_NUMBER: ErrorText(
        "保険者番号に誤りがあります。",
        "InsurerNumber is not a valid insurer number (6 or 8 digits, 都道府県番号, check "
        "digit); a 6-digit 国保 number may be space- or zero-padded to 8.",
    ),
    ConnectorCode.TOO_LARGE: ErrorText(
        "照会ファイルが大きすぎます。分けて照会してください。",
        "The request file is larger than 1 MiB.",
    ),
    ConnectorCode.UNKNOWN_REQUEST: ErrorText(
        "照会ファイルの名前が規定の形式ではありません。",
        "The file name is not a request file name (OQSsiquc01req_<id>.xml, OQSmuquc01req_<id>.xml, "
        "OQSmuquc02req_<id>.xml, OQSsiimm01req_<id>.xml, OQSmuimm01req_<id>.xml) or carries "
        "no id.",
    ),
    ConnectorCode.NOT_SUPPORTED: ErrorText(
        "この照会（照会番号の登録）には対応していません。",
        "A request kind this connector does not answer (given by no version since 照会番号登録 "
        "is supported; kept so that the code never changes meaning).",
    ),
    ConnectorCode.UNREADABLE_FILE: ErrorText(
        "照会ファイルを読み取れません。ファイルのアクセス権を確認してください。",
        "The connector may not read the request file (permission denied, or an I/O error); "
        "the file is kept in rejected/ as it is.",
    ),
    ConnectorCode.NOT_A_REGULAR_FILE: ErrorText(
        "照会ファイルが通常のファイルではありません（リンクなど）。レセコンの出力を確認してください。",
        "The request is not a regular file (a symbolic link, a FIFO, a device or a folder in "
        "its place): it is neither followed nor read, and is moved into rejected/ as it is.",
    ),
    ConnectorCode.INTERNAL: ErrorText(
        "連携ソフトでエラーが発生しました。しばらくしてからもう一度照会してください。",
        "Unexpected error in the connector; its log names the request id and the code location.",
    ),
})  # fmt: skip


class RequestRejected(Exception):
    """A request file the connector refuses. `detail` names the element or the position,
    never a value (values are personal data). `encoding` and `header` are the request's, as
    far as they could be read: the error answer goes back in that encoding and echoes them."""

    def __init__(
        self,
        code: ConnectorCode,
        detail: str | None = None,
        *,
        encoding: WireEncoding = WireEncoding.UTF8,
        header: RequestHeader | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail or CATALOGUE[code].it}")
        self.code = code
        self.detail = detail
        self.encoding = encoding
        self.header = header

    @property
    def info(self) -> ErrorText:
        return CATALOGUE[self.code]

    def within(
        self, encoding: WireEncoding, header: RequestHeader | None = None
    ) -> RequestRejected:
        """The same refusal, answered in the request's encoding and echoing its header."""
        return RequestRejected(self.code, self.detail, encoding=encoding, header=header)
