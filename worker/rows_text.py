"""Rows fetched over a MariaDB connection, written as the text `SELECT ... INTO OUTFILE`
would have written them, for the few-rows path of worker/executor.py.

Why: the czar reads one format only (tab-separated, `\\N` for NULL, '\\n' after each row), and a
director-index look-up returns a handful of rows, for which an OUTFILE costs more than the
query (a file created, read back through a thread and deleted, and a deprecation warning that
the driver fetches with one more round trip). Values arrive as MariaDB's own text (a connection
without type conversion), the same text OUTFILE writes; only the escaping is done here, as
MariaDB's select_export does with the default `FIELDS ESCAPED BY '\\\\'`: the escape character,
the field and line separators get a backslash before them, NUL becomes `\\0`.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

_SPECIAL = re.compile(rb"[\\\t\n\x00]")
_ESCAPED = {b"\\": b"\\\\", b"\t": b"\\\t", b"\n": b"\\\n", b"\x00": b"\\0"}


def _field(value) -> bytes:
    if value is None:
        return b"\\N"
    if not isinstance(value, bytes):  # a driver that converted anyway (not expected)
        value = str(value).encode()
    if _SPECIAL.search(value) is None:
        return value
    return _SPECIAL.sub(lambda m: _ESCAPED[m.group()], value)


def outfile_text(rows: Iterable[Sequence]) -> bytes:
    return b"".join(b"\t".join([_field(v) for v in row]) + b"\n" for row in rows)
