"""Bytes ⇄ XML for the file interface (docs/file-interface.md). No files, no network; the
log hears only how many characters a Shift_JIS answer could not carry.

A request declares its encoding in the XML prolog: UTF-8 or Shift_JIS (read as cp932, the
Windows superset receipt computers actually write); with no declaration XML means UTF-8.
Answers go back in the request's encoding with a prolog that says so. Requests are untrusted:
a DOCTYPE is refused outright, so no entity is ever declared or expanded.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TypeAlias

from clinic_client.connector.shift_jis import fit_shift_jis

log = logging.getLogger(__name__)

ROOT = "XmlMsg"
UTF8_BOM = b"\xef\xbb\xbf"
_PROLOG = re.compile(rb"^<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"""\sencoding\s*=\s*["']([^"']*)["']""")

# A tree to write: element name → text, a subtree, or a list (the element repeated).
Node: TypeAlias = "str | int | Mapping[str, Node] | Sequence[Node]"


class WireEncoding(StrEnum):
    """The two encodings of the file interface; the value is `CharacterCodeIdentifier`."""

    UTF8 = "0"
    SHIFT_JIS = "1"

    @property
    def codec(self) -> str:
        return "utf-8" if self is WireEncoding.UTF8 else "cp932"

    @property
    def label(self) -> str:
        """The name written in the answer's prolog."""
        return "UTF-8" if self is WireEncoding.UTF8 else "Shift_JIS"

    @classmethod
    def from_label(cls, label: str) -> WireEncoding:
        """The encoding a prolog or a caller names; `ValueError` for anything else."""
        try:
            return _ALIASES[label.strip().lower().replace("-", "_")]
        except KeyError:
            raise ValueError(f"unsupported encoding {label!r}: UTF-8 or Shift_JIS") from None


_ALIASES = {
    "utf_8": WireEncoding.UTF8,
    "utf8": WireEncoding.UTF8,
    "shift_jis": WireEncoding.SHIFT_JIS,
    "shiftjis": WireEncoding.SHIFT_JIS,
    "sjis": WireEncoding.SHIFT_JIS,
    "x_sjis": WireEncoding.SHIFT_JIS,
    "ms_kanji": WireEncoding.SHIFT_JIS,
    "csshiftjis": WireEncoding.SHIFT_JIS,
    "windows_31j": WireEncoding.SHIFT_JIS,
    "cp932": WireEncoding.SHIFT_JIS,
    "ms932": WireEncoding.SHIFT_JIS,
}


class XmlReadError(ValueError):
    """Bytes that are not a request document. `encoding` is known when `encoding_error` is
    False (the answer then goes back in it); `detail` names a position, never content."""

    def __init__(
        self, detail: str, *, encoding_error: bool, encoding: WireEncoding = WireEncoding.UTF8
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.encoding_error = encoding_error
        self.encoding = encoding


def declared_encoding(data: bytes) -> WireEncoding:
    """The encoding the prolog declares (UTF-8 when it declares none, or there is no prolog).

    Both encodings are ASCII-compatible, so the prolog can be read before decoding.
    """
    has_bom = data.startswith(UTF8_BOM)
    prolog = _PROLOG.match(data.removeprefix(UTF8_BOM))
    found = _ENCODING.search(prolog.group(0)) if prolog else None
    if found is None:
        return WireEncoding.UTF8
    try:
        encoding = WireEncoding.from_label(found.group(1).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise XmlReadError(
            "the prolog declares an unsupported encoding", encoding_error=True
        ) from None
    if has_bom and encoding is not WireEncoding.UTF8:
        raise XmlReadError("a UTF-8 byte order mark with another declared encoding",
                           encoding_error=True)  # fmt: skip
    return encoding


class _RefuseDoctype(ET.TreeBuilder):
    """ElementTree calls `doctype` as the declaration starts, before any entity is read."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise XmlReadError("a DOCTYPE is not accepted in a request", encoding_error=False)


def read_xml(data: bytes) -> tuple[ET.Element, WireEncoding]:
    """Decode `data` as its prolog declares and parse it; `XmlReadError` if either fails."""
    encoding = declared_encoding(data)
    try:
        text = data.removeprefix(UTF8_BOM).decode(encoding.codec)
    except UnicodeDecodeError as exc:
        raise XmlReadError(
            f"byte {exc.start} does not decode as {encoding.label}", encoding_error=True
        ) from None
    # The target refuses any DOCTYPE, so no entity is declared, expanded or fetched: the
    # attacks defusedxml guards against all need one.
    parser = ET.XMLParser(target=_RefuseDoctype())  # noqa: S314
    try:
        # Decoded text: expat reads it as the str it is and ignores the prolog's encoding.
        parser.feed(text)
        root: ET.Element = parser.close()
    except XmlReadError as exc:
        exc.encoding = encoding
        raise
    except ET.ParseError as exc:
        line, column = exc.position
        raise XmlReadError(
            f"not well-formed at line {line}, column {column}",
            encoding_error=False,
            encoding=encoding,
        ) from None
    return root, encoding


def write_xml(tree: Mapping[str, Node], encoding: WireEncoding) -> bytes:
    """`XmlMsg` with `tree`'s elements in order, in `encoding`, with a prolog naming it.

    A list repeats its element (`ResultOfQualificationConfirmation` once per result).
    In Shift_JIS each character cp932 cannot carry is replaced (`fit_shift_jis`: 𠮷 → 吉,
    else 〓), never written as a character reference, which some receipt computers show
    as it stands; how many were replaced is logged, never the text. UTF-8 keeps them all.
    """
    root = ET.Element(ROOT)
    for tag, value in tree.items():
        _append(root, tag, value)
    if encoding is WireEncoding.SHIFT_JIS:
        _fit_to_shift_jis(root)
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    document = f'<?xml version="1.0" encoding="{encoding.label}"?>\n{body}\n'
    return document.encode(encoding.codec)


def _fit_to_shift_jis(root: ET.Element) -> None:
    replaced = 0
    for element in root.iter():
        if element.text:
            fitted = fit_shift_jis(element.text)
            element.text = fitted.text
            replaced += fitted.replaced
    if replaced:
        # A count for the front desk to know the Shift_JIS answer differs from the record.
        log.warning(
            "Shift_JIS answer: %d character(s) cp932 cannot carry replaced "
            "(a UTF-8 answer keeps them)",
            replaced,
        )


def _append(parent: ET.Element, tag: str, value: Node) -> None:
    if isinstance(value, Mapping):
        element = ET.SubElement(parent, tag)
        for child_tag, child in value.items():
            _append(element, child_tag, child)
    elif isinstance(value, str | int):
        ET.SubElement(parent, tag).text = str(value)
    else:
        for item in value:
            _append(parent, tag, item)
