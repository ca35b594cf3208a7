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

    def write(paths, data, bounds, sums=None):
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

    def write(paths, data, bounds, sums=None):
        raise OSError(28, "No space left on device")
    r.start_writer(write)
    sender = threading.Thread(target=lambda: [r.send(["f"], np.zeros(64, np.uint8), np.array([0, 64]))
                                              for _ in range(50)])
    sender.start()
    sender.join(timeout=30)
    assert not sender.is_alive()          # slots came back although nothing was written
    with pytest.raises(OSError, match="No space"):
        r.finish()


# ---- pieces end on record boundaries (issue 14) ---------------------------------------------
def _lines(rnd: random.Random, n: int, width: int) -> list[bytes]:
    return [b"%d:" % rnd.getrandbits(40) + b"x" * rnd.randint(0, width) + b"\n" for _ in range(n)]


@pytest.mark.parametrize("unit", [relay_mod.LINES, 16, relay_mod.WHOLE])
def test_interleaved_pieces_never_split_a_record(small_slots, unit):
    """With the writer putting other sends' pieces between a send's pieces (the interleave
    hook), every file still holds exactly the records sent to it, each whole: lines (some
    longer than a slot), 16-byte records, whole groups (some larger than a slot)."""
    r = Relay(multiprocessing.get_context("fork"), jobs=2, interleave=True)
    written, write = collecting_writer()
    r.start_writer(write)
    rnd = random.Random(11)
    sent: dict[str, list[bytes]] = {}
    for block in range(40):
        paths = [f"f{rnd.randint(0, 3)}" for _ in range(rnd.randint(1, 5))]
        groups = []
        for p in paths:
            if unit == relay_mod.LINES:
                records = _lines(rnd, rnd.randint(0, 12), 90)        # up to 1.5 slots a line
            elif unit == relay_mod.WHOLE:
                records = [b"<" + bytes(rnd.randint(0, 150)) + b">"] if rnd.random() < 0.9 else []
            else:
                records = [b"%015d|" % rnd.getrandbits(40) for _ in range(rnd.randint(0, 12))]
            groups.append(b"".join(records))
            sent.setdefault(p, []).extend(records)
        data = np.frombuffer(b"".join(groups), np.uint8)
        bounds = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
        if bounds[-1]:
            r.send(paths, data, bounds, unit)
    r.finish()
    for path, records in sent.items():
        got = bytes(written.get(path, b""))
        if unit == relay_mod.LINES:
            pieces = got.splitlines(keepends=True)
        elif unit == relay_mod.WHOLE:
            pieces = [p + b">" for p in got.split(b">")[:-1]]
        else:
            pieces = [got[i:i + 16] for i in range(0, len(got), 16)]
        assert sorted(pieces) == sorted(records), path


def test_a_cut_falls_after_the_last_newline_of_the_group_at_the_limit():
    data = np.frombuffer(b"aa\nbbbb\ncc\n" + b"ddd\neeeeeeee\n", np.uint8)
    bounds = np.array([0, 11, 24], np.int64)
    assert relay_mod.cut(data, bounds, 0, 6, relay_mod.LINES) == 3      # inside "bbbb"
    assert relay_mod.cut(data, bounds, 0, 11, relay_mod.LINES) == 11    # a group's end
    assert relay_mod.cut(data, bounds, 0, 13, relay_mod.LINES) == 11    # no newline of group 2 yet
    assert relay_mod.cut(data, bounds, 11, 13, relay_mod.LINES) == 11   # nothing fits: a long row
    assert relay_mod.record_end(data, bounds, 15, relay_mod.LINES) == 24
    assert relay_mod.cut(data, bounds, 0, 13, relay_mod.WHOLE) == 11
    assert relay_mod.cut(data, bounds, 0, 20, 4) == 19                  # records of 4 from 11
