"""partitioner/buffers.py: a pooled buffer is reused only once nothing refers to it any more
(the array handed out, its slices, memoryviews of it), and the pool keeps at most `keep`."""

from __future__ import annotations

import gc

import numpy as np

from partitioner.buffers import Pool


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_buffer_returns_only_when_every_view_is_gone():
    pool = Pool(keep=2)
    a = pool.take(1000)
    where = _address(a)
    piece = a[100:200]          # what the appender keeps: slices, memoryviews
    view = memoryview(a)[5:10]
    del a
    b = pool.take(1000)
    assert _address(b) != where          # still in use through `piece` and `view`
    del piece
    c = pool.take(1000)
    assert _address(c) != where          # still in use through `view`
    del view
    d = pool.take(900)
    assert _address(d) == where          # free again: reused
    d[:] = 7
    assert len(d) == 900 and (d == 7).all()
    del b, c, d


def test_pool_keeps_at_most_keep_idle_buffers_and_fits_sizes():
    pool = Pool(keep=1)
    first = [pool.take(100) for _ in range(3)]
    del first
    gc.collect()
    assert len(pool._idle) == 1
    big = pool.take(10_000)              # larger than any idle buffer: a new one
    assert len(big) == 10_000 and len(pool._idle) == 1
    small = pool.take(50)
    assert len(small) == 50 and len(pool._idle) == 0
