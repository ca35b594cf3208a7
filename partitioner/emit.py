"""CSV output of one block: each row's line (as it came in, or re-quoted: see lines.py) plus
",chunkId,subChunkId", grouped by chunk, appended to the chunk files (and overlap files).

Why this shape: formatting the two id columns per row in Python, or re-writing every value with
pyarrow's CSV writer, cost more than reading the input. Here the output is one `take` over an
array of pieces: the rows' lines and a small table of ",<chunkId>" and ",<subChunkId>\\n" pieces.
The result's data buffer is exactly the bytes to append, already in chunk order, so each chunk
file gets one slice of it (no per-row work in Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from partitioner import writers

_STATIC_SUB_BITS = 5      # up to 4**5 sub-chunks: a fixed table of ",<sub>\n" pieces


def pieces_array(data, offsets: np.ndarray) -> pa.Array:
    """A large_binary array over `data` (bytes-like): value i is data[offsets[i]:offsets[i+1]]."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    return pa.Array.from_buffers(pa.large_binary(), len(offsets) - 1,
                                 [None, pa.py_buffer(np.ascontiguousarray(offsets, np.int64)), buf])


def _table(chunk_ids: np.ndarray, sub_ids: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Bytes of the pieces ",<c>" (one per chunk id) then ",<s>\\n" (one per sub id), and the
    offsets of the pieces within them (len = pieces + 1)."""
    parts = [f",{c}" for c in chunk_ids.tolist()] + [f",{s}\n" for s in sub_ids.tolist()]
    lengths = np.fromiter((len(p) for p in parts), np.int64, len(parts))
    return "".join(parts).encode(), np.concatenate([[0], np.cumsum(lengths)])


def write_csv(job, out: Path, lines: pa.Array, line_idx: np.ndarray, chunk: np.ndarray,
              sub: np.ndarray, o_rows: np.ndarray, o_chunks: np.ndarray, res) -> None:
    """Append rows to `chunk_<id>.csv` (and overlap rows to `chunk_<id>_overlap.csv`).

    lines: a large_binary array holding every row's line without its newline, row r at
    `lines[line_idx[r]]` (other values in between are ignored); chunk/sub: per row;
    o_rows/o_chunks: overlap pairs (row, target chunk). Fills res.chunk_rows/overlap_rows."""
    n = len(chunk)
    order = np.argsort(chunk, kind="stable")
    sorted_chunks = chunk[order]
    cut = np.flatnonzero(sorted_chunks[1:] != sorted_chunks[:-1]) + 1
    starts = np.concatenate([[0], cut]).astype(np.int64)
    ids = sorted_chunks[starts]
    counts = np.diff(np.append(starts, n))
    res.chunk_rows = dict(zip(ids.tolist(), counts.tolist()))
    cpos = np.empty(n, np.int64)                  # row -> index of its chunk in ids
    cpos[order] = np.repeat(np.arange(len(ids)), counts)
    bits = job.chunker.subchunk_bits
    if bits <= _STATIC_SUB_BITS:
        sub_ids, spos = np.arange(4 ** bits), sub
    else:
        sub_ids, spos = np.unique(sub, return_inverse=True)
    table, toff = _table(ids, sub_ids)
    # one array: the lines, then the pieces of the table
    combined = pa.concat_arrays([lines, pieces_array(table, toff)])
    t0 = len(lines)
    t1 = t0 + len(ids)
    o_order = np.argsort(o_chunks, kind="stable") if len(o_rows) else np.zeros(0, np.int64)
    rows = np.concatenate([order, o_rows[o_order]])
    idx = np.empty((len(rows), 3), np.int64)
    idx[:, 0] = line_idx[rows]
    idx[:, 1] = t0 + cpos[rows]
    idx[:, 2] = t1 + spos[rows]
    taken = combined.take(pa.array(idx.ravel()))
    off = np.frombuffer(taken.buffers()[1], np.int64, len(taken) + 1, taken.offset * 8)[::3]
    view = memoryview(taken.buffers()[2])
    name = f"{out}/chunk_{{}}.csv"
    bounds = off[np.append(starts, n)].tolist()
    for i, c in enumerate(ids.tolist()):
        writers.append(name.format(c), view[bounds[i]:bounds[i + 1]], job.lock)
    if len(o_rows):
        targets = o_chunks[o_order]
        ocut = np.flatnonzero(targets[1:] != targets[:-1]) + 1
        ostarts = np.concatenate([[0], ocut]).astype(np.int64)
        oids = targets[ostarts]
        res.overlap_rows = dict(zip(oids.tolist(), np.diff(np.append(ostarts, len(targets))).tolist()))
        name = f"{out}/chunk_{{}}_overlap.csv"
        bounds = off[n + np.append(ostarts, len(targets))].tolist()
        for i, c in enumerate(oids.tolist()):
            writers.append(name.format(c), view[bounds[i]:bounds[i + 1]], job.lock)


def write_plain(job, out: Path, lines: pa.Array, line_idx: np.ndarray) -> None:
    """Replicated tables: the rows' lines with a newline each, to `chunk_-1.csv`."""
    n = len(line_idx)
    nl = pieces_array(b"\n", np.array([0, 1]))
    combined = pa.concat_arrays([lines, nl])
    idx = np.empty((n, 2), np.int64)
    idx[:, 0] = line_idx
    idx[:, 1] = len(lines)
    taken = combined.take(pa.array(idx.ravel()))
    off = np.frombuffer(taken.buffers()[1], np.int64, len(taken) + 1, taken.offset * 8)
    writers.append(f"{out}/chunk_-1.csv", memoryview(taken.buffers()[2])[off[0]:off[-1]], job.lock)
