"""With -j > 1: the pool workers' appends, written by the parent alone.

Why: when several processes append to the same chunk files, each append needs an exclusive
`flock`, the compiled write loop cannot be used (it keeps each file's unaligned tail in its own
memory), and checksums must be read back from disk. Measured on 10M rows at order 7, -j 2 spent
~40% more CPU than -j 1 for little gain in time. Here workers only parse, place and format
rows; every byte goes to the parent through shared memory and is written by one thread there
with the single-writer path of partitioner/appender.py (aligned appends, CRCs while writing).

How: the parent maps SLOTS x SLOT_BYTES of shared memory before forking the pool. A worker
takes a free slot number from `free` (waiting when none is free: memory stays bounded), copies
a piece of its output there and puts (slot, paths, bounds) on `work`; the parent's writer
thread appends those bytes to those files in the order it receives them (one worker's pieces
keep their order, so each file gets every worker's rows in that worker's order) and returns
the slot. Output larger than a slot is cut into several pieces.

Errors: a write error in the parent is kept and raised once the pool is done (slots are still
returned, so no worker waits forever); a worker's error fails its task as before."""

from __future__ import annotations

import mmap
import os
import threading

import numpy as np

from partitioner.appender import take

SLOT_BYTES = 16 << 20       # QSERV_RELAY_SLOT_BYTES overrides it (tests: small inputs wrap slots)
SLOTS_PER_JOB = 4


class Relay:
    """Created by the parent before the pool forks; used by both sides."""

    def __init__(self, ctx, jobs: int, slot_bytes: int | None = None, interleave: bool | None = None):
        self.slot_bytes = int(slot_bytes or os.environ.get("QSERV_RELAY_SLOT_BYTES") or SLOT_BYTES)
        # Test hook (QSERV_RELAY_INTERLEAVE=1): the writer keeps every piece until the pool is
        # done, then writes all first pieces of the sends, then all second pieces, ...: a
        # piece of another send lands between two pieces of one send whenever both exist,
        # whatever the timing (tests/unit/test_partition_content.py). Memory: the whole output.
        self.interleave = bool(int(os.environ.get("QSERV_RELAY_INTERLEAVE") or 0)
                               if interleave is None else interleave)
        self._held: list = []
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
    def send(self, paths, data, bounds: np.ndarray) -> None:
        """Have data[bounds[i]:bounds[i+1]] appended to file i of `paths` (a list of paths or
        an appender.Named: one array to pickle instead of thousands of strings) by the parent."""
        data = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data
        bounds = np.asarray(bounds, np.int64)
        start, end = int(bounds[0]), int(bounds[-1])
        k = 0
        while start < end:
            stop = min(end, start + self.slot_bytes)
            first = int(np.searchsorted(bounds, start, "right")) - 1
            last = int(np.searchsorted(bounds, stop, "left"))
            cut = np.clip(bounds[first:last + 1], start, stop) - start
            keep = np.flatnonzero(cut[1:] > cut[:-1])
            slot = self.free.get()
            base = slot * self.slot_bytes
            self.memory[base:base + stop - start] = data[start:stop]
            self.work.put((slot, take(paths, first + keep), np.append(cut[keep], cut[keep[-1] + 1]), k))
            start = stop
            k += 1

    # ---- parent side ----------------------------------------------------------------
    def start_writer(self, write, before=None) -> None:
        """Run `write(paths, data, bounds)` for every piece, in a thread (`before()` first:
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
            slot, paths, bounds, k = item
            try:
                if self.error is None:
                    base = slot * self.slot_bytes
                    piece = self.memory[base:base + int(bounds[-1])]
                    if self.interleave:
                        self._held.append((k, len(self._held), paths, piece.copy(), bounds))
                    else:
                        write(paths, piece, bounds)
            except BaseException as e:   # noqa: BLE001 - raised by finish()
                self.error = e
            finally:
                self.free.put(slot)

    def _write_held(self, write) -> None:
        """The interleave hook's writes: by piece number within its send, then arrival."""
        held, self._held = sorted(self._held, key=lambda h: h[:2]), []
        for _, _, paths, piece, bounds in held:
            if self.error is None:
                try:
                    write(paths, piece, bounds)
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
