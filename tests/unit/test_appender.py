"""The partitioner's appender (partitioner/appender.py): whatever the mix of single appends,
batches, flushes, block-aligned tails, files over the open-file limit and files past the
tail buffers, every file ends up with exactly its pieces in order, and a file written alone
has the CRC32 of its content without reading it back. Write errors reach the caller."""

from __future__ import annotations

import errno
import zlib

import numpy as np
import pytest

from partitioner import appender


@pytest.fixture(autouse=True)
def fresh_state():
    appender.discard()
    appender.forget_checksums()
    yield
    appender.discard()
    appender.forget_checksums()


def _random_run(tmp_path, rng, n_files: int, rounds: int, lock: bool) -> dict[str, bytes]:
    paths = [str(tmp_path / f"f{i}.csv") for i in range(n_files)]
    expected = {p: b"" for p in paths}
    for _ in range(rounds):
        k = int(rng.integers(1, n_files + 1))
        chosen = [paths[i] for i in rng.choice(n_files, k, replace=False)]
        sizes = rng.integers(0, 9000, k)
        data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        appender.append_groups(chosen, data, bounds, lock)
        for i, p in enumerate(chosen):
            expected[p] += data[bounds[i]:bounds[i + 1]].tobytes()
        single = rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes()
        p = paths[int(rng.integers(n_files))]
        appender.append(p, single, lock)
        expected[p] += single
        if rng.random() < 0.5:
            appender.flush()
        else:
            appender.end_block()
    appender.close_all()
    return expected


@pytest.mark.parametrize("lock", [False, True])
def test_every_file_gets_its_pieces_in_order(tmp_path, lock):
    expected = _random_run(tmp_path, np.random.default_rng(3), 12, 40, lock)
    for path, content in expected.items():
        assert open(path, "rb").read() == content
        crc = appender.crc32_of(path)
        if lock:
            assert crc is None          # several writers: read back instead
        else:
            assert crc == zlib.crc32(content)


def test_open_file_limit_and_files_past_the_tail_buffers(tmp_path, monkeypatch):
    monkeypatch.setattr(appender, "MAX_OPEN", 6)          # files closed and reopened in a batch
    monkeypatch.setattr(appender, "ALIGNED_FILES", 4)     # most files written unaligned
    appender.forget_checksums()
    expected = _random_run(tmp_path, np.random.default_rng(5), 20, 30, False)
    for path, content in expected.items():
        assert open(path, "rb").read() == content
        assert appender.crc32_of(path) == zlib.crc32(content)


def test_without_zlib_every_file_takes_the_python_path(tmp_path, monkeypatch):
    from qserv import crc
    monkeypatch.setattr(crc, "address", lambda: None)
    expected = _random_run(tmp_path, np.random.default_rng(9), 5, 10, False)
    for path, content in expected.items():
        assert open(path, "rb").read() == content
        assert appender.crc32_of(path) is None


def test_a_write_error_reaches_the_caller():
    appender.append_groups(["/dev/full"], np.frombuffer(b"x" * 10000, np.uint8),
                           np.array([0, 10000]), False)
    with pytest.raises(OSError) as err:
        appender.close_all()
    assert err.value.errno == errno.ENOSPC


def test_compiled_crc32_is_zlibs():
    """The CRC-32 the compiled writes call (ISA-L's when the isal package loads, else
    zlib's) gives zlib.crc32's value for any start value and length, including the empty
    and unaligned tails that folding implementations treat separately."""
    import ctypes

    from qserv import crc
    address = crc.address()
    assert address is not None
    fn = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint64)(address)
    rng = np.random.default_rng(7)
    for n in [0, 1, 7, 15, 16, 63, 64, 255, 256, 1000, 4096, 65_537]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        for start in (0, 1, 0xFFFFFFFF, int(rng.integers(0, 1 << 32))):
            assert fn(start, data, n) == zlib.crc32(data, start), (n, start)


def test_named_files_are_the_same_files_as_their_paths(tmp_path):
    """Appends addressed as appender.Named (a template and ids) and as paths reach the same
    files, in order; ids beyond the lookup table and ids first seen late work too."""
    template = str(tmp_path / "chunk_{}.csv")
    expected: dict[str, bytes] = {}
    rng = np.random.default_rng(3)
    for round_ in range(20):
        ids = np.unique(rng.choice([0, 1, 5, 77, 1000 + round_, appender._TABLE_IDS + 3], 4))
        data = rng.integers(97, 123, 50 * len(ids), dtype=np.uint8)
        bounds = np.arange(0, 50 * len(ids) + 1, 50, dtype=np.int64)
        if round_ % 3:
            appender.prepare(appender.Named(template, ids))
            appender.append_groups(appender.Named(template, ids), data, bounds, False)
        else:
            appender.append_groups([template.format(c) for c in ids.tolist()], data, bounds, False)
        for i, c in enumerate(ids.tolist()):
            p = template.format(c)
            expected[p] = expected.get(p, b"") + data[bounds[i]:bounds[i + 1]].tobytes()
        appender.end_block()
    appender.close_all()
    for p, content in expected.items():
        assert open(p, "rb").read() == content
        assert appender.crc32_of(p) == zlib.crc32(content)
