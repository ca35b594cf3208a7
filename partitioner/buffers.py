"""Large per-block buffers used again instead of allocated afresh.

Why: every block's output (~50 MB for 32 MB of input) was a new allocation. It lives until
the appender thread has written it, so glibc hands it back to the kernel when it is freed
and the next block's output touches new pages: ~12,000 page faults per block, about 10% of a
-j 1 run's time on this VM (each first touch also costs the hypervisor a fault). Buffers
taken from a `Pool` come back to it by themselves once nothing refers to them any more (the
appender dropped its batch, the relay copied it out), so no caller has to hand them back and
a buffer still queued for writing is never reused.

Memory: at most `keep` idle buffers are kept (the rest are freed as before); buffers in use
are bounded by the appender's own limit (one flush pending, one being written)."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pyarrow as pa


class Pool:
    """Buffers of uint8 handed out as arrays; a buffer returns when the array handed out and
    every array, slice or memoryview made from it are gone.

    (Each array is made over a pyarrow Buffer of its own that wraps the pooled memory: numpy
    points every slice of the array at that array or at the Buffer, never past it to the
    pooled array, so the Buffer lives exactly as long as anything uses the memory, and its
    finalizer hands the memory back.)"""

    def __init__(self, keep: int = 4, slack: float = 1.25):
        self.keep = keep
        self.slack = slack            # room over the size asked, so a slightly larger block fits
        self._idle: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray:
        """A uint8 array of exactly `nbytes` (contents undefined)."""
        base = None
        with self._lock:
            for i, b in enumerate(self._idle):
                if len(b) >= nbytes:
                    base = self._idle.pop(i)
                    break
        if base is None:
            base = np.empty(max(1, int(nbytes * self.slack)), np.uint8)
        holder = pa.py_buffer(base[:nbytes])
        weakref.finalize(holder, self._give, base)
        return np.frombuffer(holder, np.uint8)

    def _give(self, base: np.ndarray) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(base)
                self._idle.sort(key=len)          # take the smallest that fits


output = Pool()       # a block's output rows (emit.write_block_lines)
index = Pool()        # a block's director index lines (chunking._place_directors)
