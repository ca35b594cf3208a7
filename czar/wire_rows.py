"""MariaDB's OUTFILE text turned into MySQL text-protocol row packets with numpy, no Python
loop per row.

Why: rows to a client were bounded by the czar's CPU — parsing every OUTFILE line into Python
values and writing them back one by one cost ~10 µs per row. Both formats carry the same
bytes per value, so the conversion is a byte shuffle:

    OUTFILE row:   v1 TAB v2 TAB ... vn NEWLINE
    packet:        len(payload) seq | len(v1) v1 len(v2) v2 ... len(vn) vn

Shifting the text right by one byte puts each separator where the *next* value's length byte
goes; the length bytes are written there and a 4-byte header is inserted before each row.
The fast path covers values shorter than 251 bytes (one-byte length) with no backslash other
than MariaDB's `\\N` for NULL (which becomes the NULL marker 0xFB). Anything else — escaped
characters, long values — returns None and the caller parses the text row by row
(czar/outfile.py), which handles every case.
"""

from __future__ import annotations

import numpy as np

from czar.outfile import OutfileParser  # the row-by-row path, for what numpy leaves

TAB, NEWLINE, BACKSLASH, LETTER_N = 9, 10, 92, 78
NULL_MARKER = 0xFB
MAX_SHORT_VALUE = 250  # longest value with a one-byte length prefix


class EncodedRows:
    """Complete row packets for a batch, with sequence ids still to be numbered: the stream's
    sequence counter is known only when the batch is written."""

    def __init__(self, packets: np.ndarray, seq_positions: np.ndarray):
        self.packets = packets
        self.seq_positions = seq_positions

    def __len__(self) -> int:
        return len(self.seq_positions)

    def numbered(self, first_seq: int) -> memoryview:
        """The packets with sequence ids first_seq, first_seq + 1, ... (mod 256)."""
        self.packets[self.seq_positions] = (np.arange(len(self), dtype=np.int64) + first_seq) & 0xFF
        return memoryview(self.packets)

    def slice(self, start: int, stop: int) -> "EncodedRows":
        """Rows start..stop-1 (a LIMIT's window), still packets."""
        heads = self.seq_positions - 3
        begin = int(heads[start]) if start < len(self) else len(self.packets)
        end = int(heads[stop]) if stop < len(self) else len(self.packets)
        return EncodedRows(self.packets[begin:end], self.seq_positions[start:stop] - begin)

    def __getitem__(self, rows: slice) -> "EncodedRows":
        """batch[start:stop], as for a list of rows."""
        start, stop, _ = rows.indices(len(self))
        return self.slice(start, max(start, stop))

    def rows(self) -> list[list[bytes | None]]:
        """The same rows as values (for result columns that need a per-value encoder)."""
        data = self.packets.tobytes()
        rows = []
        for seq_pos in self.seq_positions.tolist():
            i, end = seq_pos + 1, seq_pos + 1 + int.from_bytes(data[seq_pos - 3:seq_pos], "little")
            row = []
            while i < end:
                n = data[i]
                if n == NULL_MARKER:
                    row.append(None)
                    i += 1
                else:
                    row.append(data[i + 1:i + 1 + n])
                    i += 1 + n
            rows.append(row)
        return rows


def encode(text: bytes, ncols: int) -> EncodedRows | None:
    """Packets for `text` (complete OUTFILE lines of `ncols` values each), or None when the
    fast path does not apply."""
    data = np.frombuffer(text, dtype=np.uint8)
    if not len(data) or data[-1] != NEWLINE:
        return None
    separators = np.flatnonzero((data == TAB) | (data == NEWLINE))
    if len(separators) % ncols:
        return None
    nrows = len(separators) // ncols
    kinds = data[separators].reshape(nrows, ncols)
    if (kinds[:, -1] != NEWLINE).any() or (kinds[:, :-1] != TAB).any():
        return None  # a row of another width: not ours to guess
    starts = np.empty(len(separators), dtype=np.int64)
    starts[0] = 0
    starts[1:] = separators[:-1] + 1
    lengths = separators - starts
    if lengths.max(initial=0) > MAX_SHORT_VALUE:
        return None

    backslashes = text.count(b"\\")
    nulls = None
    if backslashes:
        second = np.minimum(starts + 1, len(data) - 1)
        nulls = (lengths == 2) & (data[starts] == BACKSLASH) & (data[second] == LETTER_N)
        if int(nulls.sum()) != backslashes:
            return None  # escaped characters: the row-by-row parser unescapes them

    # Payload stream: the text shifted right by one; separators become the next value's length.
    payload = np.empty(len(data), dtype=np.uint8)
    payload[1:] = data[:-1]
    payload[starts] = lengths  # starts[f] in the shifted stream is value f's length byte
    row_starts = starts[::ncols]
    row_lengths = separators[ncols - 1::ncols] + 1 - row_starts

    if nulls is not None and nulls.any():
        null_starts = starts[nulls]
        payload[null_starts] = NULL_MARKER
        keep = np.ones(len(payload), dtype=bool)
        keep[null_starts + 1] = False
        keep[null_starts + 2] = False
        payload = payload[keep]
        null_rows = np.flatnonzero(nulls) // ncols
        removed_per_row = 2 * np.bincount(null_rows, minlength=nrows)
        row_lengths = row_lengths - removed_per_row
        row_starts = row_starts - (np.cumsum(removed_per_row) - removed_per_row)

    headers = np.zeros((nrows, 4), dtype=np.uint8)
    headers[:, 0] = row_lengths & 0xFF
    headers[:, 1] = (row_lengths >> 8) & 0xFF
    headers[:, 2] = (row_lengths >> 16) & 0xFF
    packets = np.insert(payload, np.repeat(row_starts, 4), headers.ravel())
    # Row r's header now starts at row_starts[r] + 4r; its sequence byte is the fourth.
    seq_positions = row_starts + 4 * np.arange(nrows, dtype=np.int64) + 3
    return EncodedRows(packets, seq_positions)


class RowEncoder:
    """Feed pieces of OUTFILE text (cut anywhere); get back batches: EncodedRows where the fast
    path applies, lists of values (czar/outfile.py) where it does not."""

    def __init__(self, ncols: int):
        self.ncols = ncols
        self._parser = OutfileParser()
        self._rest = b""

    def feed(self, piece: bytes) -> EncodedRows | list | None:
        data = self._rest + piece if self._rest else piece
        cut = data.rfind(b"\n") + 1
        if not cut:
            self._rest = data
            return None
        text, self._rest = data[:cut], data[cut:]
        encoded = encode(text, self.ncols)
        if encoded is not None:
            return encoded
        rows = self._parser.feed(text)
        # A row cut inside an escaped newline stays unfinished: it goes on with our rest.
        self._rest = self._parser.take_rest() + self._rest
        return rows

    def finish(self) -> None:
        if self._rest:
            raise ValueError("OUTFILE text ended in the middle of a row")
