"""Parsing MariaDB's `SELECT ... INTO OUTFILE` text (tab-separated, `\\N` for NULL, backslash
escapes) back into rows, incrementally: used by the single-chunk fast path, which streams a
worker's rows straight to the client without the merge table.

Values stay bytes (MariaDB's own text), which the frontend sends on unchanged. Lines without
a backslash (most of them) cost two C-level splits; only escaped lines take the slow path.
"""

from __future__ import annotations

import re

_UNESCAPE = {b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
_TOKEN = re.compile(rb"\\(.)|(\t)|([^\\\t]+)", re.S)


def _trailing_backslashes(line: bytes) -> int:
    return len(line) - len(line.rstrip(b"\\"))


def _split_escaped(line: bytes) -> list[bytes | None]:
    fields: list[bytes | None] = []
    current = bytearray()
    null = False
    for escaped, tab, text in _TOKEN.findall(line):
        if tab:
            fields.append(None if null else bytes(current))
            current, null = bytearray(), False
        elif text:
            current += text
        elif escaped == b"N" and not current:
            null = True
        else:
            current += _UNESCAPE.get(escaped, escaped)
    fields.append(None if null else bytes(current))
    return fields


def _split_line(line: bytes) -> list[bytes | None]:
    fields = line.split(b"\t")
    if b"\\" not in line:
        return fields
    # Most backslashes are NULLs (`\N` fields, the only place MariaDB writes a backslash
    # before N): when nothing else is escaped, no character-level scan is needed.
    if b"\\" not in line.replace(b"\\N", b""):
        return [None if f == b"\\N" else f for f in fields]
    return _split_escaped(line)


class OutfileParser:
    """Feed pieces of OUTFILE text (cut anywhere); get back complete rows."""

    def __init__(self):
        self._rest = b""

    def feed(self, piece: bytes) -> list[list[bytes | None]]:
        lines = (self._rest + piece).split(b"\n")
        self._rest = lines.pop()
        rows = []
        pending = None
        for line in lines:
            if pending is not None:
                line, pending = pending + b"\n" + line, None
            if line.endswith(b"\\") and _trailing_backslashes(line) % 2 == 1:
                pending = line  # an escaped newline inside a value: the row goes on
                continue
            rows.append(_split_line(line))
        if pending is not None:
            self._rest = pending + b"\n" + self._rest
        return rows

    def take_rest(self) -> bytes:
        """The text of an unfinished row, handed back to the caller (and forgotten here)."""
        rest, self._rest = self._rest, b""
        return rest

    def finish(self) -> None:
        if self._rest:
            raise ValueError("OUTFILE text ended in the middle of a row")
