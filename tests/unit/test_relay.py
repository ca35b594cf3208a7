"""partitioner/relay.py: pool workers' appends written by the parent alone. Here both sides
run in one process (the queues and the shared memory are the real ones); the -j 2 runs of
tests/unit/test_partitioner.py cover the forked pool."""

from __future__ import annotations

import multiprocessing
import random
import threading

import numpy as np
import pytest

from partitioner import relay as relay_mod
from partitioner.appender import Named
from partitioner.relay import Relay


@pytest.fixture
def small_slots(monkeypatch):
    monkeypatch.setattr(relay_mod, "SLOT_BYTES", 64)   # every larger append is cut


def collecting_writer():
    written: dict[str, bytearray] = {}

    def write(paths, data, bounds):
        if isinstance(paths, Named):
            paths = paths.paths()
        for i, path in enumerate(paths):
            assert bounds[i + 1] > bounds[i]                    # empty pieces are dropped
            written.setdefault(path, bytearray()).extend(bytes(data[bounds[i]:bounds[i + 1]]))
    return written, write


def test_pieces_larger_than_a_slot_arrive_whole_and_in_order(small_slots):
    r = Relay(multiprocessing.get_context("fork"), jobs=1)
    written, write = collecting_writer()
    r.start_writer(write)
    rnd = random.Random(7)
    expected: dict[str, bytearray] = {}
    for block in range(30):
        sizes = [rnd.choice([0, 1, 5, 63, 64, 65, 200]) for _ in range(rnd.randint(1, 6))]
        paths = [f"f{rnd.randint(0, 4)}" for _ in sizes]
        if block % 2:     # as the partitioner sends them: a template and ids
            paths = Named("f{}", np.array([int(p[1:]) for p in paths], np.int64))
        data = np.frombuffer(bytes(rnd.getrandbits(8) for _ in range(sum(sizes))), np.uint8)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for i, p in enumerate(paths.paths() if isinstance(paths, Named) else paths):
            expected.setdefault(p, bytearray()).extend(bytes(data[bounds[i]:bounds[i + 1]]))
        r.send(paths, data, bounds)
    r.finish()
    assert {p: bytes(b) for p, b in written.items()} == {p: bytes(b) for p, b in expected.items() if b}


def test_a_write_error_is_raised_and_no_sender_waits_forever(small_slots):
    r = Relay(multiprocessing.get_context("fork"), jobs=1)    # 4 slots of 64 bytes

    def write(paths, data, bounds):
        raise OSError(28, "No space left on device")
    r.start_writer(write)
    sender = threading.Thread(target=lambda: [r.send(["f"], np.zeros(64, np.uint8), np.array([0, 64]))
                                              for _ in range(50)])
    sender.start()
    sender.join(timeout=30)
    assert not sender.is_alive()          # slots came back although nothing was written
    with pytest.raises(OSError, match="No space"):
        r.finish()
