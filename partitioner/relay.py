"""With -j > 1: the pool workers' appends, written by the parent alone.

Why: when several processes append to the same chunk files, each append needs an exclusive
`flock`, the compiled write loop cannot be used (it keeps each file's unaligned tail in its own
memory), and checksums must be read back from disk. Measured on 10M rows at order 7, -j 2 spent
~40% more CPU than -j 1 for little gain in time. Here workers only parse, place and format
rows; every byte goes to the parent through shared memory and is written by one thread there
with the single-writer path of partitioner/appender.py (aligned appends, CRCs while writing).

How: the parent maps SLOTS x SLOT_BYTES of shared memory before forking the pool. A worker
takes a free slot number from `free` (waiting when none is free: memory stays bounded), copies
a piece of its output there and puts (slot, paths, bounds, ...) on `work`; the parent's writer
thread appends those bytes to those files in the order it receives them and returns the slot.

Pieces are cut at record boundaries only (issue 14). The writer interleaves the pieces of all
workers, so a piece of another worker, nearly always holding rows of the same chunks, can land
between any two pieces of one send: a piece must therefore end, in each file it touches, at
the end of a record, never inside one. Cutting at fixed byte offsets (start + SLOT_BYTES) tore
rows: a line's head, ~600 lines of the other worker, then its tail. What a record is comes
with each send (`unit`, see appender.LINES): lines for CSV (cut after a file's last newline
before the slot's end), fixed-size records for the binary index.part, a whole group for a
Parquet frame (a framed IPC stream) or CSV whose values may hold line breaks. A record larger
than a slot (one huge row, a large frame) travels through the `work` queue itself (pickled
through its pipe: slower, rare), in its place in the order.

The other places where output is cut into pieces, checked for the same pattern (issue 14):
- the appender's carries (partitioner/appender.py): a file's unaligned tail waits in its carry
  and goes out first with that file's next bytes, in one thread: bytes are delayed, never
  reordered, and a file is written by the batch path or the locked path, never both;
- index.csv: appended block by block like the chunk files (lines, through here with -j > 1);
  index.part: 16-byte records, cut on record boundaries here;
- Parquet output: each block's rows of a chunk are one framed IPC stream, sent WHOLE;
- the ingest's 4 MiB pieces (czar/ingest/schema.py PIECE): one file per gRPC stream, written by the worker
  to its own spool file in stream order before LOAD DATA reads it: cut anywhere, reassembled
  whole (this would change if pieces of several files shared a stream or a file).

Test hooks (environment, read when a Relay is made): QSERV_RELAY_SLOT_BYTES sets the slot
size, so that a small input is cut into many pieces; QSERV_RELAY_INTERLEAVE=1 has the writer
keep every piece until the pool is done and then write all first pieces of the sends, then all
second pieces, ...: a piece of another send lands between two pieces of one send whenever both
exist, whatever the timing (tests/unit/test_partition_content.py). (That also reorders one
worker's sends, which nothing may rely on: a file's row order carries no meaning.)

Errors: a write error in the parent is kept and raised once the pool is done (slots are still
returned, so no worker waits forever); a worker's error fails its task as before."""

from __future__ import annotations

import mmap
import os
import threading

import numpy as np

from partitioner.appender import LINES, WHOLE, take

SLOT_BYTES = 16 << 20
SLOTS_PER_JOB = 4


class Relay:
    """Created by the parent before the pool forks; used by both sides."""

    def __init__(self, ctx, jobs: int, slot_bytes: int | None = None, interleave: bool | None = None):
        self.slot_bytes = int(slot_bytes or os.environ.get("QSERV_RELAY_SLOT_BYTES") or SLOT_BYTES)
        self.interleave = (bool(int(os.environ.get("QSERV_RELAY_INTERLEAVE") or 0))
                           if interleave is None else interleave)
        self._held: list = []          # the interleave hook's pieces
        self.slots = SLOTS_PER_JOB * jobs
        self.ring = mmap.mmap(-1, self.slots * self.slot_bytes)   # shared with forked children
        self.memory = np.frombuffer(self.ring, np.uint8)
        self.free = ctx.Queue()
        self.work = ctx.Queue()
        for s in range(self.slots):
            self.free.put(s)
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # ---- worker side ----------------------------------------------------------------
    def send(self, paths, data, bounds: np.ndarray, unit: int = LINES,
             sums: np.ndarray | None = None) -> None:
        """Have data[bounds[i]:bounds[i+1]] appended to file i of `paths` (a list of paths or
        an appender.Named: one array to pickle instead of thousands of strings) by the parent.
        `unit`: what a record of these files is (appender.LINES, WHOLE or a size in bytes);
        pieces end on record boundaries of every file. `sums`: the row checksum of each
        group (computed here, by the producer), handed to the writer with the piece that
        holds the group's first byte."""
        data = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data
        bounds = np.asarray(bounds, np.int64)
        start, end = int(bounds[0]), int(bounds[-1])
        k = 0
        while start < end:
            stop = cut(data, bounds, start, min(end, start + self.slot_bytes), unit)
            inline = stop == start        # one record larger than a slot
            if inline:
                stop = record_end(data, bounds, start, unit)
            first = int(np.searchsorted(bounds, start, "right")) - 1
            last = int(np.searchsorted(bounds, stop, "left"))
            pos = np.clip(bounds[first:last + 1], start, stop) - start
            keep = np.flatnonzero(pos[1:] > pos[:-1])
            piece_bounds = np.append(pos[keep], pos[keep[-1] + 1])
            groups = first + keep
            piece_sums = None if sums is None else np.where(bounds[groups] >= start, sums[groups],
                                                            np.uint64(0))
            if inline:
                self.work.put((None, take(paths, groups), piece_bounds, k, piece_sums,
                               data[start:stop].tobytes()))
            else:
                slot = self.free.get()
                base = slot * self.slot_bytes
                self.memory[base:base + stop - start] = data[start:stop]
                self.work.put((slot, take(paths, groups), piece_bounds, k, piece_sums, None))
            start = stop
            k += 1

    # ---- parent side ----------------------------------------------------------------
    def start_writer(self, write, before=None) -> None:
        """Run `write(paths, data, bounds, sums)` for every piece, in a thread (`before()` first:
        creating the files the sample predicted while the workers read their first blocks)."""
        self._thread = threading.Thread(target=self._serve, args=(write, before),
                                        name="relay-writer", daemon=True)
        self._thread.start()

    def _serve(self, write, before) -> None:
        if before is not None:
            try:
                before()
            except BaseException as e:   # noqa: BLE001 - raised by finish()
                self.error = e
        while True:
            item = self.work.get()
            if item is None:
                self._write_held(write)
                return
            slot, paths, bounds, k, sums, inline = item
            try:
                if self.error is None:
                    if inline is not None:
                        piece = np.frombuffer(inline, np.uint8)
                    else:
                        base = slot * self.slot_bytes
                        piece = self.memory[base:base + int(bounds[-1])]
                    if self.interleave:
                        self._held.append((k, len(self._held), paths, piece.copy(), bounds, sums))
                    else:
                        write(paths, piece, bounds, sums)
            except BaseException as e:   # noqa: BLE001 - raised by finish()
                self.error = e
            finally:
                if slot is not None:
                    self.free.put(slot)

    def _write_held(self, write) -> None:
        """The interleave hook's writes: by piece number within its send, then arrival."""
        held, self._held = sorted(self._held, key=lambda h: h[:2]), []
        for _, _, paths, piece, bounds, sums in held:
            if self.error is None:
                try:
                    write(paths, piece, bounds, sums)
                except BaseException as e:   # noqa: BLE001 - raised by finish()
                    self.error = e

    def finish(self) -> None:
        """After the pool is gone (every piece sent): wait for the writer; raise its error."""
        if self._thread is not None:
            self.work.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error


def cut(data: np.ndarray, bounds: np.ndarray, start: int, limit: int, unit: int) -> int:
    """The last record boundary in [start, limit]: `limit` itself when it is the end or a
    group's boundary, else the end of the last whole record of the group holding byte
    `limit` (its start, or `start`, when none fits). start == the result: the record at
    `start` is larger than limit - start."""
    if limit >= bounds[-1]:
        return int(bounds[-1])
    i = int(np.searchsorted(bounds, limit, "right")) - 1
    group = int(bounds[i])
    if group == limit:
        return limit
    lo = max(group, start)
    if unit == WHOLE:
        return lo
    if unit > 0:
        return max(lo, group + (limit - group) // unit * unit)
    nl = _last_newline(data, lo, limit)
    return nl + 1 if nl >= 0 else lo


def record_end(data: np.ndarray, bounds: np.ndarray, start: int, unit: int) -> int:
    """The end of the record starting at `start` (within its group)."""
    i = int(np.searchsorted(bounds, start, "right")) - 1
    end = int(bounds[i + 1])
    if unit == WHOLE:
        return end
    if unit > 0:
        return min(end, start + unit)
    nl = _first_newline(data, start, end)
    return nl + 1 if nl >= 0 else end


def _last_newline(data: np.ndarray, lo: int, hi: int) -> int:
    """Position of the last newline in data[lo:hi], or -1 (searched back from hi in growing
    windows: rows are short, a slot is 16 MiB)."""
    width = 4096
    while hi > lo:
        a = max(lo, hi - width)
        found = np.flatnonzero(data[a:hi] == 10)
        if len(found):
            return a + int(found[-1])
        hi, width = a, width * 4
    return -1


def _first_newline(data: np.ndarray, lo: int, hi: int) -> int:
    """Position of the first newline in data[lo:hi], or -1."""
    width = 4096
    while lo < hi:
        b = min(hi, lo + width)
        found = np.flatnonzero(data[lo:b] == 10)
        if len(found):
            return lo + int(found[0])
        lo, width = b, width * 4
    return -1
