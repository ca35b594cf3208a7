"""CSV output of one block: each row's line (as it came in, or re-quoted: see lines.py) plus
",chunkId,subChunkId", grouped by chunk, appended to the chunk files (and overlap files).

Why this shape: formatting the two id columns per row in Python, or re-writing every value with
pyarrow's CSV writer, cost more than reading the input. The line path (`write_block_lines`)
puts every output row into one buffer in chunk order with a compiled loop
(kernels.emit_rows, called through partitioner/compiled.py); the general path (`write_csv`) does the
same with one pyarrow `take` over the rows' lines and a small table of
",<chunkId>,<subChunkId>\\n" pieces. Either way the result is exactly the bytes to append, so
each chunk file gets one slice of it (no per-row work in Python)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa

from partitioner import buffers, writers
from partitioner.appender import LINES, WHOLE, Named
from partitioner import compiled

_STATIC_SUB_BITS = 5      # up to 4**5 sub-chunks: every (chunk, sub) suffix of a block's chunks


def stable_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") for non-negative ids, as one or two radix sorts of
    16-bit digits (numpy sorts 16-bit keys by radix: about twice as fast here)."""
    if not len(keys) or keys.min() < 0 or keys.max() >= 1 << 32:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    if keys.max() < 1 << 16:
        return order
    return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]


def pieces_array(data, offsets: np.ndarray) -> pa.Array:
    """A binary array over `data` (bytes-like): value i is data[offsets[i]:offsets[i+1]]
    (32-bit offsets when they fit: a cheaper `take`)."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    small = len(offsets) and offsets[-1] < (1 << 31) - 1
    return pa.Array.from_buffers(pa.binary() if small else pa.large_binary(), len(offsets) - 1,
                                 [None, pa.py_buffer(np.ascontiguousarray(
                                     offsets, np.int32 if small else np.int64)), buf])


_last_suffixes: list = [None, None]     # (key, table): consecutive blocks touch the same chunks


def _suffixes(ids: np.ndarray, subs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bytes and offsets of the pieces ",<c>,<s>\n" for every c of `ids` (outer) and s of
    `subs` (inner), built with numpy from one small table per column (the last one reused)."""
    key = (ids.tobytes(), len(subs))
    if _last_suffixes[0] != key:
        _last_suffixes[:] = [key, _build_suffixes(ids, subs)]
    return _last_suffixes[1]


def _build_suffixes(ids: np.ndarray, subs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    def table(strings):
        raw = np.array([x.encode() for x in strings])
        width = raw.dtype.itemsize
        lens = np.fromiter((len(x) for x in strings), np.int64, len(strings))
        return np.frombuffer(raw.tobytes(), np.uint8).reshape(-1, width), lens
    cm, cl = table([f",{c}," for c in ids.tolist()])
    sm, sl = table([f"{x}\n" for x in subs.tolist()])
    u, s = len(ids), len(subs)
    full = np.concatenate([np.repeat(cm, s, axis=0), np.tile(sm, (u, 1))], axis=1)
    lens_c, lens_s = np.repeat(cl, s), np.tile(sl, u)
    mask = np.concatenate([np.arange(cm.shape[1])[None, :] < lens_c[:, None],
                           np.arange(sm.shape[1])[None, :] < lens_s[:, None]], axis=1)
    return full[mask], np.concatenate([[0], np.cumsum(lens_c + lens_s)])


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, ids, starts, counts): `order` sorts rows by key (stably); rows of ids[i] are
    order[starts[i]:starts[i] + counts[i]]."""
    order = stable_order(keys) if len(keys) else np.zeros(0, np.int64)
    sorted_keys = keys[order]
    cut = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate([[0], cut]).astype(np.int64) if len(keys) else np.zeros(0, np.int64)
    return order, sorted_keys[starts], starts, np.diff(np.append(starts, len(keys)))


def _layout(out: Path, chunk: np.ndarray, o_chunks: np.ndarray, res):
    """Group a block's rows by chunk and its overlap pairs by target chunk (see _groups),
    count them into res, and have the files they go to created meanwhile."""
    order, ids, starts, counts = _groups(chunk)
    o_order, oids, ostarts, ocounts = _groups(o_chunks)
    _count_and_prepare(out, ids, counts, oids, ocounts, res)
    return order, ids, starts, o_order, oids, ostarts


def _count_and_prepare(out: Path, ids, counts, oids, ocounts, res) -> None:
    res.chunk_rows = dict(zip(ids.tolist(), counts.tolist()))
    if len(oids):
        res.overlap_rows = dict(zip(oids.tolist(), ocounts.tolist()))
    writers.prepare(Named(f"{out}/chunk_{{}}.csv", ids))
    writers.prepare(Named(f"{out}/chunk_{{}}_overlap.csv", oids))


_COUNTING_SORT_KEYS = 1 << 20   # chunk orders <= 8: a table of counts per chunk id (<= 8 MB)


def _slot_groups(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot, ids, bounds): row r goes to position slot[r] when rows are grouped by key
    (ids ascending, input order within a key); rows of ids[i] take bounds[i]:bounds[i+1].
    A compiled counting sort (kernels.group_slots) when the keys are chunk ids of a
    moderate order, else a stable argsort (_groups)."""
    keys = keys.astype(np.int64, copy=False)
    if n_keys <= _COUNTING_SORT_KEYS:
        ok, slot, ids, bounds = compiled.group_slots(keys, n_keys)
        if ok:
            return slot, ids, bounds
    order, ids, starts, _ = _groups(keys)
    return _slots(order), ids, np.append(starts, len(keys))


_ID_TABLE_LIMIT = 1 << 20      # ids per table of id texts (order 8: 786,432 chunks, 7 MB)


@functools.cache
def _id_tables(n_chunks: int, n_subs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if n_chunks > _ID_TABLE_LIMIT or n_subs > _ID_TABLE_LIMIT:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, np.uint64), np.zeros(0, np.uint8)
    return compiled.id_texts(n_chunks, ord(","), ord(",")) + compiled.id_texts(n_subs, -1, ord("\n"))


def id_tables(chunker) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ctext, csize, stext, ssize): the texts ",<chunkId>," and "<subChunkId>\n" of every id
    of the chunker's geometry (kernels.id_texts, made once per geometry) for kernels.emit_rows
    and format_index; empty tables (every row formatted) beyond _ID_TABLE_LIMIT ids."""
    return _id_tables(chunker.n_chunks, 4 ** chunker.subchunk_bits)


def _unit(job) -> int:
    """Records of the rows' bytes (for the relay's pieces): lines, unless values may hold line
    breaks (a dialect whose files cannot be split at lines), then each file's bytes whole."""
    return LINES if job.dialect.splittable else WHOLE


def _append_groups(job, out: Path, data: np.ndarray, bounds: np.ndarray, ids: np.ndarray,
                   overlap: bool) -> None:
    name = f"{out}/chunk_{{}}_overlap.csv" if overlap else f"{out}/chunk_{{}}.csv"
    writers.append_groups(Named(name, ids), data, bounds, job.lock, _unit(job))


def write_block_lines(job, out: Path, fb, chunk: np.ndarray, sub: np.ndarray, o_rows: np.ndarray,
                      o_chunks: np.ndarray, res) -> None:
    """The line path's writes (a lines.FastBlock): each row's line + ",chunkId,subChunkId",
    put in chunk order by one compiled loop (kernels.emit_rows), appended to the chunk
    files, then the overlap rows (with their own ids) to the overlap files."""
    n = len(chunk)
    slot, ids, bounds = _slot_groups(chunk, job.chunker.n_chunks)
    o_slot, oids, obounds = _slot_groups(o_chunks, job.chunker.n_chunks)
    _count_and_prepare(out, ids, np.diff(bounds), oids, np.diff(obounds), res)
    rows = (fb.starts, fb.ends, chunk.astype(np.int64, copy=False), sub.astype(np.int64, copy=False),
            slot, o_rows.astype(np.int64, copy=False), n + o_slot)
    ctext, csize, stext, ssize = id_tables(job.chunker)
    pos = compiled.emit_layout(*rows, csize, ssize)
    data = buffers.output.take(int(pos[-1]))
    compiled.emit_rows(data, pos, fb.buf, *rows, ctext, csize, stext, ssize)
    _append_groups(job, out, data, pos[bounds], ids, False)
    if len(o_rows):
        _append_groups(job, out, data, pos[n + obounds], oids, True)


def _slots(order: np.ndarray) -> np.ndarray:
    """Where each item goes when `order` lists the items in output order (its inverse)."""
    slots = np.empty(len(order), np.int64)
    slots[order] = np.arange(len(order), dtype=np.int64)
    return slots


def write_csv(job, out: Path, lines: pa.Array, line_idx: np.ndarray, chunk: np.ndarray,
              sub: np.ndarray, o_rows: np.ndarray, o_chunks: np.ndarray, res) -> None:
    """Append rows to `chunk_<id>.csv` (and overlap rows to `chunk_<id>_overlap.csv`): the
    general path's writes (rows as a binary array of lines, from lines.base_lines).

    lines: a binary array holding every row's line without its newline, row r at
    `lines[line_idx[r]]` (other values in between are ignored); chunk/sub: per row;
    o_rows/o_chunks: overlap pairs (row, target chunk). Fills res.chunk_rows/overlap_rows."""
    n = len(chunk)
    order, ids, starts, o_order, oids, ostarts = _layout(out, chunk, o_chunks, res)
    cpos = np.empty(n, np.int64)                  # row -> index of its chunk in ids
    cpos[order] = np.repeat(np.arange(len(ids)), np.diff(np.append(starts, n)))
    bits = job.chunker.subchunk_bits
    if bits <= _STATIC_SUB_BITS:
        subs, spos = np.arange(4 ** bits), sub
        data, toff = _suffixes(ids, subs)
        piece = cpos * len(subs) + spos
    else:                                         # many sub-chunks: only the pairs present
        pairs, piece = np.unique(cpos * (1 << 2 * bits) + sub, return_inverse=True)
        text = [f",{ids[p >> 2 * bits]},{p & ((1 << 2 * bits) - 1)}\n" for p in pairs.tolist()]
        data = "".join(text).encode()
        toff = np.concatenate([[0], np.cumsum([len(t) for t in text])])
    table = pieces_array(pa.py_buffer(data), toff)
    combined = pa.chunked_array([lines, table.cast(lines.type)])   # (no copy of the lines)
    rows = np.concatenate([order, o_rows[o_order]])
    small = len(lines) + len(table) < (1 << 31)
    idx = np.empty((len(rows), 2), np.int32 if small else np.int64)
    idx[:, 0] = line_idx[rows]
    idx[:, 1] = len(lines) + piece[rows]
    taken = _one(combined.take(pa.array(idx.ravel())))
    width = 8 if pa.types.is_large_binary(taken.type) else 4
    off = np.frombuffer(taken.buffers()[1], np.int64 if width == 8 else np.int32, len(taken) + 1,
                        taken.offset * width)[::2]
    data = np.frombuffer(taken.buffers()[2], np.uint8)
    _append_groups(job, out, data, off[np.append(starts, n)], ids, False)
    if len(o_rows):
        _append_groups(job, out, data, off[n + np.append(ostarts, len(o_rows))], oids, True)


def _one(taken) -> pa.Array:
    """A take's result as one array (its bytes contiguous, in order)."""
    if isinstance(taken, pa.ChunkedArray):
        return taken.chunk(0) if taken.num_chunks == 1 else pa.concat_arrays(taken.chunks)
    return taken


def write_plain(job, out: Path, lines: pa.Array, line_idx: np.ndarray) -> None:
    """Replicated tables: the rows' lines with a newline each, to `chunk_-1.csv`."""
    n = len(line_idx)
    nl = pieces_array(b"\n", np.array([0, 1]))
    combined = pa.chunked_array([lines, nl.cast(lines.type)])
    idx = np.empty((n, 2), np.int64)
    idx[:, 0] = line_idx
    idx[:, 1] = len(lines)
    taken = _one(combined.take(pa.array(idx.ravel())))
    width = 8 if pa.types.is_large_binary(taken.type) else 4
    off = np.frombuffer(taken.buffers()[1], np.int64 if width == 8 else np.int32, len(taken) + 1,
                        taken.offset * width)
    writers.append(f"{out}/chunk_-1.csv", memoryview(taken.buffers()[2])[off[0]:off[-1]], job.lock,
                   _unit(job))
