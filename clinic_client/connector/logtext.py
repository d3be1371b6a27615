"""Text from outside the connector (file names, request ids, a server's words) made safe for
one line of the log. Pure."""

from __future__ import annotations


def loggable(text: str) -> str:
    """`text` with every character that is not printable (newline, carriage return, escape,
    the Unicode line separators, a file name's undecodable bytes) and the backslash written
    as a Python escape (`\\n`, `\\x1b`, `\\u2028`, `\\udcff`, `\\\\`): a name cannot start a
    line of its own in the log, nor pass for an escape it does not hold."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in text)
