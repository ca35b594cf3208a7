"""Result batches back to MariaDB's OUTFILE text, to store an async query's rows in its result
table with one `LOAD DATA INFILE` per few megabytes.

The engine hands rows on as batches ready for the MySQL wire (czar/wire_rows.py: row packets
built with numpy from the workers' OUTFILE text) or as lists of values. Storing them goes the
other way: packets become text again with numpy (the inverse byte shuffle, no Python loop per
row), lists are escaped value by value (the rare texts with escapes or long values).
"""

from __future__ import annotations

import numpy as np

from czar.wire_rows import NULL_MARKER, EncodedRows

TAB, NEWLINE, BACKSLASH, LETTER_N = 9, 10, 92, 78
_ESCAPES = {0: b"\\0", TAB: b"\\\t", NEWLINE: b"\\\n", BACKSLASH: b"\\\\"}


def packets_text(batch: EncodedRows, ncols: int) -> bytes:
    """The OUTFILE text of row packets whose values all have one-byte lengths (as
    czar/wire_rows.encode makes them): each length byte becomes the tab before its value
    (the first one is dropped with the row's header), a NULL marker becomes `\\N`, and a
    newline ends each row."""
    nrows = len(batch)
    if not nrows:
        return b""
    packets = batch.packets
    heads = batch.seq_positions - 3
    keep = np.ones(len(packets), dtype=bool)
    for i in range(4):
        keep[heads + i] = False
    out = packets.copy()
    pos = batch.seq_positions + 1
    null_at = []
    for col in range(ncols):
        lengths = packets[pos]
        nulls = lengths == NULL_MARKER
        if col == 0:
            keep[pos] = False
        else:
            out[pos] = TAB
        if nulls.any():
            null_at.append(pos[nulls] + 1)
        pos = pos + 1 + np.where(nulls, 0, lengths).astype(np.int64)
    row_ends = np.append(heads[1:], len(packets))
    nulls_pos = np.concatenate(null_at) if null_at else np.empty(0, dtype=np.int64)
    positions = np.concatenate([np.repeat(nulls_pos, 2), row_ends])
    values = np.concatenate([np.tile(np.array([BACKSLASH, LETTER_N], dtype=np.uint8), len(nulls_pos)),
                             np.full(len(row_ends), NEWLINE, dtype=np.uint8)])
    order = np.argsort(positions, kind="stable")
    out = np.insert(out, positions[order], values[order])
    keep = np.insert(keep, positions[order], True)
    return out[keep].tobytes()


def _escape(value) -> bytes:
    if value is None:
        return b"\\N"
    if not isinstance(value, (bytes, bytearray)):
        value = str(value).encode()
    if any(b in value for b in (b"\\", b"\t", b"\n", b"\0")):
        return b"".join(_ESCAPES.get(c, bytes((c,))) for c in value)
    return bytes(value)


def rows_text(rows) -> bytes:
    """The OUTFILE text of rows given as lists of values (bytes, str, numbers or None)."""
    return b"".join(b"\t".join(_escape(v) for v in row) + b"\n" for row in rows)


def batch_text(batch, ncols: int) -> bytes:
    if isinstance(batch, EncodedRows):
        return packets_text(batch, ncols)
    return rows_text(batch)
