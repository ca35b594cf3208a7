"""Input dialects (how a table's files are written) and the output format (LOAD DATA ready)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qserv.catalog import LOAD_FORMAT

# Output CSV: every non-NULL value in double quotes, bare NULL for NULL (qserv.catalog.LOAD_FORMAT).
OUTPUT_CSV = {"delimiter": ",", "quote": '"', "null": "NULL (unquoted)", "escape": None,
              "load_data": LOAD_FORMAT}

# MySQL's escapes (as `mysqldump --tab` and SELECT ... INTO OUTFILE write them) -> the byte.
_MYSQL_ESCAPES = {b"0": b"\x00", b"b": b"\x08", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
_ESCAPE_RE = re.compile(rb"\\(.)|\r", re.DOTALL)


@dataclass
class CsvDialect:
    delimiter: str = ","
    header: bool = True            # first line of every file names the columns
    null: list[str] = field(default_factory=lambda: ["\\N"])
    quote: str | None = '"'        # None: no quoting
    escape: str | None = None      # "\\": MySQL escapes (\0 \b \n \r \t \Z \N, backslash + any)
    newlines_in_values: bool = False  # quoted/escaped values may hold line breaks (no splitting)

    @classmethod
    def from_spec(cls, raw: dict | None) -> "CsvDialect":
        raw = dict(raw or {})
        null = raw.pop("null", ["\\N"])
        d = cls(**raw, null=[null] if isinstance(null, str) else list(null))
        if len(d.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, not {d.delimiter!r}")
        if d.escape is not None and d.escape != "\\":
            raise ValueError("escape must be a backslash (MySQL escapes) or absent")
        return d

    @property
    def splittable(self) -> bool:
        """Can a file be cut at any line break (no value spans lines)?"""
        return not (self.newlines_in_values or self.escape)

    def null_values(self) -> list[str]:
        # after unescaping (see unescape_mysql), MySQL's \N reads as the 2 characters \N
        return ["\\N" if (self.escape and n == "\\N") else n for n in self.null]


def unescape_mysql(block: bytes) -> bytes:
    """Rewrite MySQL escapes so that pyarrow's one-character escape (`\\x` -> `x`) decodes
    them right: `\\n` (letters) -> backslash + LF, ..., `\\N` -> `\\\\N` (read back as the
    text \\N, the NULL token), a bare CR -> backslash + CR. Python work only where a backslash
    or a CR is."""
    if b"\\" not in block and b"\r" not in block:
        return block

    def sub(m):
        c = m.group(1)
        if c is None:          # a bare CR is data (MySQL does not escape it); pyarrow would
            return b"\\\r"    # end the line there

        if c in _MYSQL_ESCAPES:
            return b"\\" + _MYSQL_ESCAPES[c]
        if c == b"N":
            return b"\\\\N"
        return m.group(0)
    return _ESCAPE_RE.sub(sub, block)
