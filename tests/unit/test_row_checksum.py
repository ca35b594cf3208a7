"""qserv/row_checksum.py: the manifest's row checksums, compiled and in Python."""

from __future__ import annotations

import random
import zlib

import numpy as np

from qserv import row_checksum


def test_compiled_sums_equal_the_definition_and_ignore_row_order():
    rnd = random.Random(5)
    rows = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300))).replace(b"\n", b"\r") + b"\n"
            for _ in range(2000)]
    data = b"".join(rows) + b"last line without newline"
    want = sum(zlib.crc32(r) for r in rows + [b"last line without newline"]) % (1 << 64)
    got, lines = row_checksum.sums(data)
    assert int(got[0]) == want == row_checksum.python_sums(data)[0] and int(lines[0]) == 2001
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert int(row_checksum.sums(b"".join(shuffled))[0][0]) == sum(zlib.crc32(r) for r in rows) % (1 << 64)
    # groups: each its own sum; split at line ends they add up to the whole
    cut = len(b"".join(rows[:700]))
    parts, counts = row_checksum.sums(np.frombuffer(data, np.uint8), np.array([0, cut, len(data)]))
    assert (int(parts.sum()) % (1 << 64)) == want and counts.tolist() == [700, 1301]
    assert row_checksum.text(want).startswith("crc32sum:") and len(row_checksum.text(want)) == 25


def test_a_torn_row_changes_the_sum_but_not_the_crc_of_the_bytes_in_written_order():
    """Issue 14's shape: the same bytes, newlines and CRC32 of the file as written in that
    order; the rows' sum differs from what the producer formatted."""
    rows = [b"%d,%d.5,x\n" % (i, i * 3) for i in range(50)]
    producer = sum(zlib.crc32(r) for r in rows) % (1 << 64)
    torn = rows[0][:3] + b"".join(rows[1:10]) + rows[0][3:] + b"".join(rows[10:])
    assert torn.count(b"\n") == 50
    assert int(row_checksum.sums(torn)[0][0]) != producer
    assert int(row_checksum.sums(b"".join(rows))[0][0]) == producer


def test_first_calls_from_several_threads_at_once(tmp_path):
    """qserv/verify.py checks files on threads: their first compiled calls come together
    (numba's registries loaded twice at once broke typing: qserv/jit.py's lock)."""
    import os
    import subprocess
    import sys
    code = ("from concurrent.futures import ThreadPoolExecutor; from qserv import row_checksum; "
            "data = b'1,2,3\\n' * 1000; "
            "print(set(ThreadPoolExecutor(4).map(lambda _: int(row_checksum.sums(data)[0][0]), range(8))))")
    env = dict(os.environ, QSERV_KERNELS="jit", NUMBA_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "{%d}" % row_checksum.python_sums(b"1,2,3\n" * 1000)[0]
