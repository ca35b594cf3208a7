"""Writers: append a block's rows, grouped by chunk, to per-chunk files.

Several processes append to the same chunk file: each append is one `write` under an
exclusive `flock` of that file, so pieces never interleave (rows of a chunk come in block
order per process, blocks of different processes in any order). CSV pieces are the final
bytes (qserv.catalog.LOAD_FORMAT); Parquet pieces are Arrow IPC streams framed by their length,
turned into one Parquet file per chunk by `finish_parquet`."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

CSV_OPTIONS = pacsv.WriteOptions(include_header=False, null_string="NULL", quoting_style="all_valid",
                                 batch_size=1 << 16)


_fds: dict[str, int] = {}   # open chunk files of this process (appends only)


def _max_open() -> int:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
        soft = min(want, 65536)
    except (ValueError, OSError):
        pass
    return max(64, soft - 512)


MAX_OPEN = _max_open()


# Appends are held in memory (views of the blocks' output buffers, per file, in order) and
# written when they reach BUFFER_BYTES, at the end of each task, and by close_all: at chunk
# order 7 a block touches thousands of files, and one writev per file per flush costs far less
# than one locked write per file per block.
BUFFER_BYTES = 256 << 20
_pending: dict[str, list] = {}
_pending_bytes = 0
_pending_lock = False


def set_buffer(nbytes: int) -> None:
    global BUFFER_BYTES
    BUFFER_BYTES = max(0, int(nbytes))


def append(path, data, lock: bool) -> None:
    """Append `data` (bytes-like; kept by reference until written) to `path`. Each file's
    pieces are written in the order given, one locked writev per file per flush."""
    global _pending_bytes, _pending_lock
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if not n:
        return
    _pending.setdefault(str(path), []).append(data)
    _pending_bytes += n
    _pending_lock = _pending_lock or lock
    if _pending_bytes >= BUFFER_BYTES:
        flush()


def flush() -> None:
    """Write every pending piece."""
    global _pending_bytes, _pending_lock
    lock = _pending_lock
    items = list(_pending.items())
    _pending.clear()
    _pending_bytes = 0
    _pending_lock = False
    for key, pieces in items:
        _write(_fd(key), pieces, lock)


def _fd(key: str) -> int:
    fd = _fds.get(key)
    if fd is None:
        if len(_fds) >= MAX_OPEN:
            _close_fds()
        fd = _fds[key] = os.open(key, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    return fd


def _write(fd: int, pieces: list, lock: bool) -> None:
    if lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        for i in range(0, len(pieces), 512):          # IOV_MAX is 1024 on Linux
            group = pieces[i:i + 512]
            total = sum(memoryview(p).nbytes for p in group)
            done = os.writev(fd, group)
            if done < total:                           # short write: finish piece by piece
                view = memoryview(b"".join(bytes(memoryview(p)) for p in group))[done:]
                while view:
                    view = view[os.write(fd, view):]
    finally:
        if lock:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _close_fds() -> None:
    for fd in _fds.values():
        os.close(fd)
    _fds.clear()


def close_all() -> None:
    """Write what is pending and close the files."""
    flush()
    _close_fds()


def discard() -> None:
    """Forget pending pieces (a run that failed) and close the files."""
    global _pending_bytes, _pending_lock
    _pending.clear()
    _pending_bytes = 0
    _pending_lock = False
    _close_fds()


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
                append(directory / f"{stem.format(int(c))}.csv", csv_bytes(piece), lock)
        return
    for i, c in enumerate(ids):
        piece = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, piece.schema) as w:
            w.write_table(piece)
        body = sink.getvalue()
        append(directory / f"{stem.format(int(c))}.parquet.part",
               struct.pack("<Q", body.size) + body.to_pybytes(), lock)


def finish_parquet(part: Path) -> Path:
    """Turn a file of framed IPC streams into `<name>.parquet`."""
    data = part.read_bytes()
    tables, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        tables.append(ipc.open_stream(pa.py_buffer(data[pos + 8:pos + 8 + n])).read_all())
        pos += 8 + n
    out = part.with_suffix("")          # chunk_7.parquet.part -> chunk_7.parquet
    pq.write_table(pa.concat_tables(tables), out)
    part.unlink()
    return out


def checksum(path: Path) -> str:
    crc = 0
    with open(path, "rb") as f:
        while True:
            buf = f.read(8 << 20)
            if not buf:
                break
            crc = zlib.crc32(buf, crc)
    return f"crc32:{crc:08x}"


INDEX_DTYPE = np.dtype([("key", "<i8"), ("chunk", "<i4"), ("sub", "<i4")])
