"""The manifest's row checksums: order-independent checksums of a CSV file's lines.

Why: a file's CRC32 follows its bytes in the order they were written, so a writer that puts
bytes in the wrong order (issue 14: a row's head, other rows, its tail) gets a CRC that
matches the torn file. A row checksum is computed by the producer of the rows, over each row
as it formatted it (in the worker process, before the bytes travel to the writer), and is the
same whatever order whole rows reach the file in, so a row cut or changed on its way, or a file
edited or truncated later, no longer matches.

Definition: the sum, modulo 2**64, of the CRC-32 (zlib's) of each line of the file, its
newline included (a last line without one counts as it is), written "crc32sum:<16 hex>".
For a file of rows without line breaks in values a line is a row; rows whose values hold
line breaks are summed line by line, the same on both sides. Summing CRCs keeps it
additive: the sum of a file is the sum of its appends' sums, whatever their order, as long
as each append ends at a line's end.

`sums` runs the compiled loop (qserv/checksum_kernels.py: libc's memchr finds each newline,
the CRC-32 is the C function of qserv/crc.py; ~7 GB/s of ~100-byte lines here), or the same
in Python (`python_sums`) where no CRC-32 function loads. This module loads no numba (a run
with the loops built ahead of time never does: qserv/compiled.py)."""

from __future__ import annotations

import zlib

import numpy as np

PREFIX = "crc32sum:"
MASK = (1 << 64) - 1


def text(value: int) -> str:
    """The manifest's form of a row checksum."""
    return f"{PREFIX}{int(value) & MASK:016x}"


def lines_of(data: bytes) -> list[bytes]:
    """The lines of data, each with its newline (b"\n" only: a CR is data)."""
    parts = bytes(data).split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def python_sums(data: bytes) -> tuple[int, int]:
    """(row checksum, lines) of data, in Python (zlib)."""
    lines = lines_of(data)
    return sum(map(zlib.crc32, lines)) & MASK, len(lines)


def sums(data, bounds=None) -> tuple[np.ndarray, np.ndarray]:
    """(checksums, lines) of each group data[bounds[i]:bounds[i+1]] (the whole of data by
    default): uint64 and int64 arrays."""
    from qserv import compiled, crc
    data = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data
    bounds = np.array([0, len(data)], np.int64) if bounds is None else np.ascontiguousarray(bounds, np.int64)
    address = crc.address()
    if address is not None:
        return compiled.line_sums(np.ascontiguousarray(data, np.uint8), bounds, address)
    out = [python_sums(data[a:b].tobytes()) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    return (np.array([s for s, _ in out], np.uint64), np.array([n for _, n in out], np.int64))
