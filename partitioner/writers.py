"""Writers: append a block's rows, grouped by chunk, to per-chunk files.

Appends are buffered and written by one thread (partitioner/appender.py); with -j > 1 the pool
workers send them to the parent, which writes every file alone (partitioner/relay.py): rows of
a chunk come in block order per worker, blocks of different workers in any order. CSV pieces
are the final bytes (qserv.catalog.LOAD_FORMAT); Parquet pieces are Arrow IPC streams framed by their length,
turned into one Parquet file per chunk by `finish_parquet` (each frame is one record for the
relay: never cut, see partitioner/relay.py)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

from partitioner import appender

CSV_OPTIONS = pacsv.WriteOptions(include_header=False, null_string="NULL", quoting_style="all_valid",
                                 batch_size=1 << 16)


# Appends go through partitioner.appender (buffered, written by a background thread).
append, append_groups, flush, close_all, discard, prepare, end_block, forget_checksums = (
    appender.append, appender.append_groups, appender.flush, appender.close_all,
    appender.discard, appender.prepare, appender.end_block, appender.forget_checksums)


def for_csv(table: pa.Table) -> pa.Table:
    """Raw-byte columns are written as they are (pyarrow's CSV writer wants text)."""
    cols = [c.cast(c.type) if not pa.types.is_binary(c.type) else
            pa.chunked_array([a.view(pa.string()) for a in c.chunks], pa.string())
            for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names)


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(for_csv(table), buf, CSV_OPTIONS)
    return buf.getvalue()


def csv_lines(table: pa.Table) -> pa.Array | None:
    """The table as CSV, one binary value per row (its line with the newline), or None when
    some value holds a line break (then rows cannot be cut by line)."""
    data = csv_bytes(table)
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if len(ends) != table.num_rows:
        return None
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return pa.Array.from_buffers(pa.large_binary(), table.num_rows,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def write_lines(directory: Path, stem: str, lines: pa.Array, order: np.ndarray, bounds: np.ndarray,
                ids: np.ndarray, lock: bool) -> None:
    """Lines `order` (grouped by chunk: group i is [bounds[i], bounds[i+1]) of `order`) appended
    to `<directory>/<stem.format(ids[i])>.csv`. One gather of whole lines (a single column),
    instead of one per column."""
    taken = lines.take(pa.array(order))
    off_buf, data_buf = taken.buffers()[1], taken.buffers()[2]
    offsets = np.frombuffer(off_buf, np.int64, count=len(taken) + 1, offset=taken.offset * 8)
    cut = offsets[bounds].tolist()
    view = memoryview(data_buf)
    prefix = f"{directory}/{stem}.csv"
    for i, c in enumerate(ids.tolist()):
        append(prefix.format(c), view[cut[i]:cut[i + 1]], lock)


def write_groups(directory: Path, stem: str, table: pa.Table, bounds: np.ndarray, ids: np.ndarray,
                 fmt: str, lock: bool) -> None:
    """`table` sorted by chunk; rows of chunk ids[i] are [bounds[i], bounds[i+1]). Appends each
    group to `<directory>/<stem.format(id)>.<fmt>`."""
    if fmt == "csv":
        data = csv_bytes(table)
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
        if len(ends) == table.num_rows:          # one line per row: cut the bytes
            offsets = np.concatenate([[0], ends])[bounds].tolist()
            prefix = f"{directory}/{stem}.csv"
            view = memoryview(data)
            for i, c in enumerate(ids.tolist()):
                append(prefix.format(c), view[offsets[i]:offsets[i + 1]], lock)
        else:                                    # values with line breaks: one write per chunk
            for i, c in enumerate(ids):
                piece = table.slice(bounds[i], bounds[i + 1] - bounds[i])
                append(directory / f"{stem.format(int(c))}.csv", csv_bytes(piece), lock, appender.WHOLE)
        return
    for i, c in enumerate(ids):
        piece = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, piece.schema) as w:
            w.write_table(piece)
        body = sink.getvalue()
        append(directory / f"{stem.format(int(c))}.parquet.part",
               struct.pack("<Q", body.size) + body.to_pybytes(), lock, appender.WHOLE)


def finish_parquet(part: Path) -> Path:
    """Turn a file of framed IPC streams into `<name>.parquet`."""
    data = part.read_bytes()
    tables, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        tables.append(ipc.open_stream(pa.py_buffer(data[pos + 8:pos + 8 + n])).read_all())
        pos += 8 + n
    out = part.with_suffix("")          # chunk_7.parquet.part -> chunk_7.parquet
    import pyarrow.parquet as pq     # (imported when needed: ~0.1 s, with ssl)
    pq.write_table(pa.concat_tables(tables), out)
    part.unlink()
    return out


def checksum(path: Path) -> str:
    """"crc32:<hex>" of the file: as computed while it was written (appender.crc32_of), or
    by reading it back. (A file the run created and wrote alone; see run.partition.)"""
    known = appender.crc32_of(path)
    if known is not None:
        return f"crc32:{known:08x}"
    crc = 0
    with open(path, "rb") as f:
        while True:
            buf = f.read(8 << 20)
            if not buf:
                break
            crc = zlib.crc32(buf, crc)
    return f"crc32:{crc:08x}"


def row_checksum(path: Path) -> str | None:
    """The CSV file's row checksum, "crc32sum:<hex>" (qserv/row_checksum.py), as its rows'
    producers computed it (appender.row_checksum_of), or None when unknown. Never read back
    from the file: that would agree with a file written wrong."""
    from qserv.row_checksum import text
    known = appender.row_checksum_of(path)
    return text(known) if known is not None else None


INDEX_DTYPE = np.dtype([("key", "<i8"), ("chunk", "<i4"), ("sub", "<i4")])
# A director's positions (positions.part, beside index.part), for the children that have
# positions of their own: the partitioner measures their offset from their director.
POSITION_DTYPE = np.dtype([("key", "<i8"), ("ra", "<f8"), ("dec", "<f8")])
