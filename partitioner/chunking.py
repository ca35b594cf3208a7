"""The chunker: one block of rows -> chunk and sub-chunk ids (numpy, no Python per row),
overlap rows for directors, director look-ups for children, then the writes.

A row that cannot be placed for sure (malformed line, ra/dec missing or out of range, NULL or
non-integer director key, child without its director row) is never written to a guessed
chunk: it stops the run with an error naming the file and line, or, with `--rejects FILE`,
goes to that file (one line per row: table, file, line, reason, the row) and is counted."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from partitioner import buffers, emit, lines, readers, writers
from partitioner.dialect import CsvDialect
from partitioner import compiled
from qserv.catalog import CHILD, CHUNK_COLUMNS, DIRECTOR, TableSpec
from qserv.geometry import Chunker

_index_cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_line_cache: dict[tuple[str, int], int] = {}
_malformed: dict[tuple[str, int], list[int]] = {}   # task -> rows pyarrow skipped (positions)


def reset() -> None:
    """Forget per-run state (a process may run several partitions, e.g. the loader's)."""
    _index_cache.clear()
    _line_cache.clear()
    _malformed.clear()


@dataclass
class Block:
    task: readers.Task
    row_base: int        # rows of the task before this block
    table: pa.Table


@dataclass
class BlockResult:
    rows_out: int = 0
    rejected: int = 0
    by_position: int = 0      # child rows without director, placed by their own position
    # child with positions of its own: the largest angle (deg) of a row from its director's
    # position (-1: none measured yet); offset_unknown: the director's positions were not kept
    max_offset: float = -1.0
    offset_unknown: bool = False
    chunk_rows: dict = field(default_factory=dict)
    overlap_rows: dict = field(default_factory=dict)


@dataclass
class TableJob:
    """Everything a worker process needs for one table (pickled once per task)."""
    spec: TableSpec
    dialect: CsvDialect
    chunker: Chunker
    overlap: float
    out_dir: str
    fmt: str
    lock: bool
    write: bool
    rejects: str | None
    file_columns: dict
    index_dir: str | None
    block_bytes: int = 64 << 20
    block_rows: int = 1 << 20
    close_files: bool = False     # close chunk files after each task (pool workers: keep them)
    positions: bool = False       # director: keep (key, ra, dec) in positions.part for children

    # -- error reporting ---------------------------------------------------------------
    def first_line(self, task: readers.Task) -> int:
        """1-based line number of the task's first data row."""
        key = (task.path, task.start)
        if key not in _line_cache:
            before = readers.count_lines_before(task.path, task.start) if task.start else 0
            header = 1 if (self.dialect.header and task.start == 0) else 0
            _line_cache[key] = before + header + 1
        return _line_cache[key]

    def reject(self, task: readers.Task, rows: list[tuple[int | None, str, bytes]],
               positions: bool = False) -> None:
        """rows: (row index in task or None, reason, row text). Raise, or append to rejects."""
        from partitioner.run import PartitionError
        where = "row" if readers.is_parquet(Path(task.path)) else "line"
        items = []
        for row, reason, text in rows:
            if row is None:
                pos = "?"
            elif where == "row":
                pos = str(row + 1)
            else:
                pos = str(self.first_line(task) + (row if positions else self._skip_malformed(task, row)))
            items.append((pos, reason, text))
        if not self.rejects:
            pos, reason, text = items[0]
            more = f" (and {len(items) - 1} more in this part of the file)" if len(items) > 1 else ""
            raise PartitionError(f"{self.spec.name}: {task.path}, {where} {pos}: {reason}: "
                                 f"{text[:200].decode('utf-8', 'replace')!r}{more}; "
                                 f"use --rejects FILE to set such rows aside")
        if not self.write:
            return
        out = b"".join(b"\t".join([self.spec.name.encode(), task.path.encode(), pos.encode(),
                                   reason.encode(), text.replace(b"\n", b"\\n")]) + b"\n"
                       for pos, reason, text in items)
        writers.append(Path(self.rejects), out, True)

    def _skip_malformed(self, task: readers.Task, row: int) -> int:
        """Position in the file's rows of the `row`-th row pyarrow returned (malformed rows
        it skipped come in between)."""
        for m in sorted(_malformed.get((task.path, task.start), ())):
            if m <= row:
                row += 1
        return row

    def reject_malformed(self, task: readers.Task, texts: list[str], row_base: int) -> None:
        lines = _find_lines(task, texts, self.dialect.header)
        _malformed.setdefault((task.path, task.start), []).extend(ln for ln in lines if ln is not None)
        self.reject(task, [(ln, "malformed row "
                            "(wrong number of fields or bad quoting)", t.encode("utf-8", "replace"))
                           for ln, t in zip(lines, texts)], positions=True)

    # -- director index for children ---------------------------------------------------
    def director_index(self):
        if self.index_dir not in _index_cache:
            d = Path(self.index_dir)
            _index_cache[self.index_dir] = tuple(np.load(d / f"{n}.npy", mmap_mode="r")
                                                 for n in ("keys", "chunks", "subs"))
        return _index_cache[self.index_dir]

    def director_positions(self):
        """(ra, dec) of the directors in the index's order, or None when that run kept none."""
        key = (self.index_dir, "positions")
        if key not in _index_cache:
            d = Path(self.index_dir)
            _index_cache[key] = (tuple(np.load(d / f"{n}.npy", mmap_mode="r") for n in ("ras", "decs"))
                                 if (d / "ras.npy").exists() else None)
        return _index_cache[key]

    def measure_offsets(self, res: "BlockResult", ra, dec, pos) -> None:
        """A child with positions of its own: the block's largest offset from a director
        (rows with pos < 0 have none: placed by their own position)."""
        if not self.spec.has_position:
            return
        where = self.director_positions()
        if where is None:
            res.offset_unknown = True
            return
        m = compiled.max_offset(np.ascontiguousarray(ra, np.float64), np.ascontiguousarray(dec, np.float64),
                                np.ascontiguousarray(pos, np.int64), *where)
        res.max_offset = max(res.max_offset, float(m))


def _find_lines(task: readers.Task, texts: list[str], has_header: bool) -> list[int | None]:
    """Line numbers (relative to the task's first data line, as row indices) of malformed rows,
    found by scanning the task's text (error path only)."""
    want = {}
    for i, t in enumerate(texts):
        want.setdefault(t.encode("utf-8", "replace"), []).append(i)
    found: list[int | None] = [None] * len(texts)
    path = Path(task.path)
    opener = gzip.open if readers.is_gzip(path) else open
    with opener(path, "rb") as f:
        if task.start:
            f.seek(task.start)
        pos = task.start
        header = task.start == 0 and has_header
        row = 0
        for line in f:
            if task.end >= 0 and pos >= task.end:
                break
            pos += len(line)
            if header:
                header = False
                continue
            key = line.rstrip(b"\r\n")
            if key in want and want[key]:
                found[want[key].pop(0)] = row
            row += 1
    return found


def _numbers(col: pa.ChunkedArray, kind) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) of a column parsed as float64 or int64; not-ok: NULL or not a number."""
    import pyarrow.compute as pc     # the general path only (imported when needed)
    target = pa.float64() if kind is float else pa.int64()
    if pa.types.is_binary(col.type):
        col = pa.chunked_array([a.view(pa.string()) for a in col.chunks], pa.string())
    try:
        arr = pc.cast(col, target)
        ok = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), bool)
        vals = arr.fill_null(0).to_numpy()
        return vals.astype(np.float64 if kind is float else np.int64), ok
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    vals = np.zeros(len(col), np.float64 if kind is float else np.int64)   # error path
    ok = np.zeros(len(col), bool)
    for i, v in enumerate(col.to_pylist()):
        try:
            vals[i] = kind(v) if v is not None else 0
            ok[i] = v is not None
        except (TypeError, ValueError, OverflowError):
            pass
    return vals, ok


def process_block(job: TableJob, block: Block) -> BlockResult:
    t = block.table
    spec = job.spec
    res = BlockResult()
    k = _read_keys(job, t)
    bad = np.zeros(t.num_rows, bool)
    for mask, _ in k.why:
        bad |= mask
    if bad.any():
        _reject(job, block, t, bad, k.why, res)
        good = ~bad
        t = t.filter(pa.array(good))
        k.keep(good)
    n = t.num_rows
    res.rows_out = n
    out = Path(job.out_dir)
    raw_csv = job.fmt == "csv" and all(pa.types.is_binary(c.type) for c in t.columns)
    if not spec.partitioned:
        res.chunk_rows[-1] = n
        if job.write and n:
            if raw_csv:
                emit.write_plain(job, out, lines.base_lines(t), np.arange(n))
            else:
                writers.write_groups(out, "chunk_{}", t, np.array([0, n]), np.array([-1]), job.fmt, job.lock)
        return res
    if spec.role == DIRECTOR:
        chunk, sub, o_rows, o_chunks = _place_directors(job, out, k.ra, k.dec, k.key)
    else:
        o_rows = o_chunks = np.zeros(0, np.int64)
        chunk = np.asarray(k.ichunk[k.pos_c]).astype(np.int64)
        sub = np.asarray(k.isub[k.pos_c]).astype(np.int64)
        if k.by_position.any():
            c2, s2 = job.chunker.locate(k.ra[k.by_position], k.dec[k.by_position])
            chunk[k.by_position], sub[k.by_position] = c2, s2
            res.by_position = int(k.by_position.sum())
        if spec.has_position and n:
            job.measure_offsets(res, k.ra, k.dec, np.where(k.by_position, -1, k.pos_c))
    if not n:
        return res
    if raw_csv:
        if job.write:
            emit.write_csv(job, out, lines.base_lines(t), np.arange(n), chunk, sub, o_rows, o_chunks, res)
        else:
            _count(res, chunk, o_chunks)
        return res
    _count(res, chunk, o_chunks)
    if job.write:
        _write_general(job, out, t, chunk, sub, o_rows, o_chunks)
    return res


@dataclass
class _Keys:
    """What placing a block's rows needs, read from its columns: positions and director
    keys (directors), the director index's answer for each key (children), and `why`: a mask
    of rows that cannot be placed with the reason, per reason."""
    why: list = field(default_factory=list)
    ra: Any = None
    dec: Any = None
    key: Any = None
    pos_c: Any = None
    found: Any = None
    by_position: Any = None
    ichunk: Any = None
    isub: Any = None

    def keep(self, good: np.ndarray) -> None:
        """Only the rows of `good` from now on."""
        for name in ("ra", "dec", "key", "pos_c", "found", "by_position"):  # (by row)
            value = getattr(self, name)
            if value is not None and len(value) == len(good):
                setattr(self, name, value[good])


def _positions(t: pa.Table, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ra, dec, usable): a row is usable with both finite and dec in [-90, 90]."""
    ra, ok_ra = _numbers(t[spec.ra], float)
    dec, ok_dec = _numbers(t[spec.dec], float)
    with np.errstate(invalid="ignore"):
        pos_ok = ok_ra & ok_dec & np.isfinite(ra) & np.isfinite(dec) & (dec >= -90) & (dec <= 90)
    return ra, dec, pos_ok


def _read_keys(job: TableJob, t: pa.Table) -> _Keys:
    spec = job.spec
    k = _Keys()
    if spec.role == DIRECTOR:
        k.ra, k.dec, pos_ok = _positions(t, spec)
        k.key, key_ok = _numbers(t[spec.director_key], int)
        k.why += [(~pos_ok, f"{spec.ra}/{spec.dec} missing or out of range"),
                  (~key_ok, f"director key {spec.director_key} NULL or not an integer")]
    elif spec.role == CHILD:
        key, key_ok = _numbers(t[spec.director_key], int)
        keys, k.ichunk, k.isub = job.director_index()
        pos = np.searchsorted(keys, key)
        k.pos_c = np.minimum(pos, max(len(keys) - 1, 0))
        found = key_ok & (pos < len(keys))
        if len(keys):
            found &= np.asarray(keys[k.pos_c]) == key
        k.found = found
        k.by_position = np.zeros(t.num_rows, bool)
        if spec.has_position:
            # a child with its own position (or a copy of its director's, as Qserv's
            # raObject/declObject): rows whose director is missing are placed by it, and the
            # others' offsets from their director are measured (TableSpec.position_margin)
            k.ra, k.dec, pos_ok = _positions(t, spec)
            k.by_position = ~found & pos_ok
            k.ra = np.where(pos_ok, k.ra, np.nan)    # no position: no offset to measure
        k.why += [(~key_ok & ~k.by_position, f"{spec.director_key} NULL or not an integer"),
                  (key_ok & ~found & ~k.by_position,
                   f"no {spec.director_table} row with this {spec.director_key}")]
    return k


def _reject(job: TableJob, block: Block, t: pa.Table, bad: np.ndarray, why: list,
            res: BlockResult) -> None:
    """The rows of `bad` go to the rejects (with their reason and text) or stop the run."""
    rows = np.flatnonzero(bad)
    reasons = [next(r for m, r in why if m[i]) for i in rows]
    texts = writers.csv_bytes(t.take(pa.array(rows))).splitlines() if len(rows) else []
    if len(texts) != len(rows):
        texts = [writers.csv_bytes(t.slice(int(i), 1)).rstrip(b"\n") for i in rows[:100]]
        texts += [b""] * (len(rows) - len(texts))
    job.reject(block.task, [(block.row_base + int(i), r, x) for i, r, x in zip(rows, reasons, texts)])
    res.rejected = len(rows)


def _write_general(job: TableJob, out: Path, t: pa.Table, chunk, sub, o_rows, o_chunks) -> None:
    """The general path (typed columns, or Parquet): rows grouped by chunk, then the
    overlap rows grouped by the chunk they are copied into."""
    n = t.num_rows
    csv = writers.csv_lines(_with_chunk_columns(t, chunk, sub)) if job.fmt == "csv" else None
    order = np.argsort(chunk, kind="stable")
    ids, starts = np.unique(chunk[order], return_index=True)
    if csv is not None:
        writers.write_lines(out, "chunk_{}", csv, order, np.append(starts, n), ids, job.lock)
    else:
        sorted_rows = _with_chunk_columns(t.take(pa.array(order)), chunk[order], sub[order])
        writers.write_groups(out, "chunk_{}", sorted_rows, np.append(starts, n), ids, job.fmt, job.lock)
    if len(o_rows):
        order = np.argsort(o_chunks, kind="stable")
        rows, targets = o_rows[order], o_chunks[order]
        ids, starts = np.unique(targets, return_index=True)
        # overlap rows keep the chunkId/subChunkId of the chunk they belong to
        if csv is not None:
            writers.write_lines(out, "chunk_{}_overlap", csv, rows, np.append(starts, len(rows)), ids,
                                job.lock)
        else:
            sorted_rows = _with_chunk_columns(t.take(pa.array(rows)), chunk[rows], sub[rows])
            writers.write_groups(out, "chunk_{}_overlap", sorted_rows, np.append(starts, len(rows)), ids,
                                 job.fmt, job.lock)


def _place_directors(job: TableJob, out: Path, ra, dec, key):
    """Chunks and overlap pairs of director rows; their index records appended (also in a dry
    run, into a scratch directory: children need it)."""
    chunk, sub, o_rows, o_chunks = job.chunker.partition(ra, dec, job.overlap)
    if len(chunk):
        raw = buffers.index.take(len(chunk) * writers.INDEX_DTYPE.itemsize)
        rec = raw.view(writers.INDEX_DTYPE)        # (a reused buffer, appended as it is)
        rec["key"], rec["chunk"], rec["sub"] = key, chunk, sub
        writers.append(out / "index.part", raw, job.lock, writers.INDEX_DTYPE.itemsize)
        if job.positions:
            where = np.empty(len(chunk), writers.POSITION_DTYPE)
            where["key"], where["ra"], where["dec"] = key, ra, dec
            writers.append(out / "positions.part", where.view(np.uint8), job.lock,
                           writers.POSITION_DTYPE.itemsize)
        if job.write and job.fmt == "csv":    # the LOAD-ready index, in index.part's order
            ids = (np.asarray(key, np.int64), chunk.astype(np.int64, copy=False),
                   sub.astype(np.int64, copy=False))
            ctext, csize, stext, ssize = emit.id_tables(job.chunker)
            text = buffers.index.take(compiled.index_size(*ids, csize, ssize))
            compiled.format_index(text, *ids, ctext, csize, stext, ssize)
            writers.append(out / "index.csv", text, job.lock)
    return chunk, sub, o_rows, o_chunks


def _count(res: BlockResult, chunk: np.ndarray, o_chunks: np.ndarray) -> None:
    ids, counts = np.unique(chunk, return_counts=True)
    res.chunk_rows = dict(zip(ids.tolist(), counts.tolist()))
    if len(o_chunks):
        ids, counts = np.unique(o_chunks, return_counts=True)
        res.overlap_rows = dict(zip(ids.tolist(), counts.tolist()))


def process_lines(job: TableJob, fb) -> BlockResult | None:
    """The fast path (lines.fast_block): every row valid and plain. None when a child row's
    director is missing (the general path reports it or places it by position)."""
    spec = job.spec
    res = BlockResult(rows_out=fb.n)
    out = Path(job.out_dir)
    idx = np.arange(0, 2 * fb.n, 2)
    if not spec.partitioned:
        res.chunk_rows[-1] = fb.n
        if job.write:
            emit.write_plain(job, out, fb.lines, idx)
        return res
    o_rows = o_chunks = np.zeros(0, np.int64)
    if spec.role == DIRECTOR:
        ra, dec = fb.values[spec.ra], fb.values[spec.dec]
        with np.errstate(invalid="ignore"):
            if not (np.isfinite(ra).all() and np.isfinite(dec).all() and (np.abs(dec) <= 90).all()):
                return None
        chunk, sub, o_rows, o_chunks = _place_directors(job, out, ra, dec, fb.values[spec.director_key])
    else:
        key = fb.values[spec.director_key]
        keys, ichunk, isub = job.director_index()
        if not len(keys):
            return None
        pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        if not (np.asarray(keys[pos]) == key).all():
            return None
        chunk = np.asarray(ichunk[pos]).astype(np.int64)
        sub = np.asarray(isub[pos]).astype(np.int64)
        if spec.has_position:
            job.measure_offsets(res, fb.values[spec.ra], fb.values[spec.dec], pos)
    if job.write:
        emit.write_block_lines(job, out, fb, chunk, sub, o_rows, o_chunks, res)
    else:
        _count(res, chunk, o_chunks)
    return res


def _with_chunk_columns(t: pa.Table, chunk: np.ndarray, sub: np.ndarray) -> pa.Table:
    return t.append_column(CHUNK_COLUMNS[0], pa.array(chunk.astype(np.int32))).append_column(
        CHUNK_COLUMNS[1], pa.array(sub.astype(np.int32)))
