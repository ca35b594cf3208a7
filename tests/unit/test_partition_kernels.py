"""The partitioner's compiled loops (partitioner/kernels.py) against plain Python: a field
split, numbers parsed to the same double as Python's correctly rounded float() (or declined,
never a different value), and output lines byte for byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from partitioner import kernels
from partitioner.constants import POW10


def _u8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


def _fields(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = ",".join(texts).encode()
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t.encode()) + 1
    start = np.array(starts, np.int64)
    return _u8(data), start, start + np.array([len(t.encode()) for t in texts], np.int64)


decimal_text = st.builds(
    lambda sign, whole, frac, exp: sign + whole + frac + exp,
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", max_size=20),
    st.one_of(st.just(""), st.text("0123456789", max_size=20).map(lambda f: "." + f)),
    st.one_of(st.just(""), st.builds(lambda e, s, d: e + s + d, st.sampled_from("eE"),
                                     st.sampled_from(["", "-", "+"]), st.text("0123456789", min_size=1, max_size=3))))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(decimal_text, st.floats(allow_nan=False).map(repr),
                          st.floats(-400, 400).map(lambda x: f"{x:.7f}"),
                          st.text("0123456789.eE+-x ", min_size=1, max_size=12)), min_size=1, max_size=20))
def test_parse_floats_is_exact_or_declines(texts):
    texts = [t for t in texts if "," not in t] or ["1"]
    data, start, end = _fields(texts)
    values, ok = kernels.numbers(data, start, end, float)
    for text, v, good in zip(texts, values, ok):
        if good:
            expected = float(text)
            assert v == expected and np.signbit(v) == np.signbit(expected), (text, v)


def test_parse_floats_accepts_the_usual_forms():
    texts = ["12.3456789", "-0.0000001", "359.9999999", "-90", "1e3", "2.5E-4", ".5", "7.", "0", "-0.0"]
    data, start, end = _fields(texts)
    values, ok = kernels.numbers(data, start, end, float)
    assert ok.all()
    assert values.tolist() == [float(t) for t in texts]
    assert np.signbit(values[-1])
    bad = ["", "-", ".", "1e", "1.2.3", "nan", "inf", "1,5", "0x10", "1e+", "12345678901234567890"]
    data, start, end = _fields([b for b in bad if "," not in b])
    _, ok = kernels.numbers(data, start, end, float)
    assert not ok.any()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.integers(-10 ** 18 + 1, 10 ** 18 - 1).map(str),
                          st.text("0123456789+-x", min_size=1, max_size=20)), min_size=1, max_size=20))
def test_parse_ints_is_exact_or_declines(texts):
    data, start, end = _fields(texts)
    values, ok = kernels.numbers(data, start, end, int)
    for text, v, good in zip(texts, values, ok):
        if good:
            assert v == int(text), text
        elif text.lstrip("+-").isdigit() and text.count("-") + text.count("+") <= 1 and text[-1].isdigit():
            assert len(text.lstrip("+-")) > 18, text      # only long numbers are left to pyarrow


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text("ab1.-xN", max_size=4), min_size=1, max_size=5), min_size=1, max_size=40),
       st.integers(1, 5))
def test_scan_lines_matches_split(rows, k):
    """Blocks of up to ~800 bytes: separators in whole 64-byte words and in the padded tail."""
    data = "".join(",".join(r) + "\n" for r in rows).encode()
    cols = np.arange(min(k, 3), dtype=np.int64)
    floats = np.arange(len(cols)) % 2 == 0           # fields 0 and 2 as floats, 1 as an int
    capacity = [-1, 0, len(rows) - 1, len(rows), 3 * len(rows)][len(data) % 5]   # exact, short, enough
    status, starts, ends, fstart, fend, values, ok, suspect = kernels.scan_lines(
        _u8(data), k, cols, floats, POW10, _u8(b'N"N"'), capacity)
    if status == 3:
        assert 0 <= capacity < len(rows)
        status, starts, ends, fstart, fend, values, ok, suspect = kernels.scan_lines(
            _u8(data), k, cols, floats, POW10, _u8(b'N"N"'), -1)
    fine = all(len(r) == k and all(r) for r in rows)
    if status == 0:
        assert suspect == (b"N" in data)
    if fine:
        assert status == 0
        lines = data.decode().split("\n")[:-1]
        assert [data[s:e].decode() for s, e in zip(starts, ends)] == lines
        for j, c in enumerate(cols):
            assert [data[s:e].decode() for s, e in zip(fstart[j], fend[j])] == [r[c] for r in rows]
            # parsed while scanning: the same values and verdicts as parsing the fields after
            kind = float if floats[j] else int
            expect, expect_ok = kernels.numbers(_u8(data), fstart[j], fend[j], kind)
            got = values[j] if kind is float else values[j].view(np.int64)
            assert ok[j].tolist() == expect_ok.tolist()
            assert got[ok[j]].tolist() == expect[expect_ok].tolist()
    else:
        assert status != 0


def _tables(use: bool, n_chunks: int = 5000, n_subs: int = 700):
    """Id text tables (kernels.id_texts) covering only part of the tests' ids, or none."""
    if not use:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint8), np.zeros(0, np.uint64), np.zeros(0, np.uint8)
    return kernels.id_texts(n_chunks, ord(","), ord(",")) + kernels.id_texts(n_subs, -1, ord("\n"))


def test_id_texts_end_where_the_text_ends():
    text, size = kernels.id_texts(1_000_001, ord(","), ord(","))
    for i in (0, 7, 10, 99, 12345, 999_999):
        s = f",{i},".encode()
        assert size[i] == len(s) and int(text[i]).to_bytes(8, "little")[8 - len(s):] == s
    assert size[1_000_000] == 0                        # ",1000000," is 9 bytes: no entry
    text, size = kernels.id_texts(64, -1, ord("\n"))
    assert int(text[42]).to_bytes(8, "little")[-3:] == b"42\n" and size[42] == 3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text("abc,.9", min_size=1, max_size=30), st.integers(0, 10 ** 7),
                          st.integers(0, 4 ** 8)), min_size=1, max_size=30), st.randoms(),
       st.booleans())
def test_emit_rows_appends_ids(rows, rnd, tables):
    """Every row and every overlap copy lands in its slot, with its ids appended; with id
    tables (ids inside and outside them, lines too short for their 8-byte stores) or not."""
    data = "".join(t + "\n" for t, _, _ in rows).encode()
    lens = np.array([len(t) for t, _, _ in rows], np.int64)
    starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]]).astype(np.int64)
    n = len(rows)
    o_rows = np.array(sorted(rnd.choices(range(n), k=rnd.randint(0, 2 * n))), np.int64)
    items = list(range(n)) + o_rows.tolist()           # the row of each item, input order
    slots = list(range(len(items)))
    rnd.shuffle(slots)                                  # item i goes to output row slots[i]
    chunk = np.array([c for _, c, _ in rows], np.int64)
    sub = np.array([s for _, _, s in rows], np.int64)
    slots = np.array(slots, np.int64)
    args = (starts, starts + lens, chunk, sub, slots[:n], o_rows, slots[n:])
    ctext, csize, stext, ssize = _tables(tables)
    pos = kernels.emit_layout(*args, csize, ssize)
    out = np.full(int(pos[-1]) + 3, 0xEE, np.uint8)     # a used buffer, a little larger
    kernels.emit_rows(out, pos, _u8(data), *args, ctext, csize, stext, ssize)
    assert bytes(out[pos[-1]:]) == b"\xee" * 3          # nothing written past the rows
    out = out[:pos[-1]]
    expected = [b""] * len(items)
    for i, r in enumerate(items):
        expected[slots[i]] = f"{rows[r][0]},{rows[r][1]},{rows[r][2]}\n".encode()
    assert bytes(out) == b"".join(expected)
    assert [bytes(out[pos[k]:pos[k + 1]]) for k in range(len(items))] == expected


@settings(deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.integers(-20, 10 ** 6)),
                          st.one_of(st.integers(0, 2 ** 31 - 1), st.integers(0, 6000)),
                          st.one_of(st.integers(0, 2 ** 31 - 1), st.integers(0, 800))), max_size=30),
       st.booleans())
def test_format_index(rows, tables):
    key = np.array([r[0] for r in rows], np.int64)
    chunk = np.array([r[1] for r in rows], np.int64)
    sub = np.array([r[2] for r in rows], np.int64)
    ctext, csize, stext, ssize = _tables(tables)
    out = np.full(kernels.index_size(key, chunk, sub, csize, ssize) + 2, 0xEE, np.uint8)
    kernels.format_index(out, key, chunk, sub, ctext, csize, stext, ssize)
    assert bytes(out[-2:]) == b"\xee\xee"
    got = bytes(out[:-2])
    assert got == "".join(f"{a},{b},{c}\n" for a, b, c in rows).encode()


@settings(deadline=None)
@given(st.lists(st.integers(0, 40), max_size=200), st.integers(0, 3))
def test_group_slots_is_a_stable_sort(keys, extra):
    """kernels.group_slots places rows exactly where a stable argsort puts them."""
    keys = np.array(keys, np.int64)
    ok, slot, ids, bounds = kernels.group_slots(keys, 41 + extra)
    assert ok
    order = np.argsort(keys, kind="stable")
    expect = np.empty(len(keys), np.int64)
    expect[order] = np.arange(len(keys))
    assert slot.tolist() == expect.tolist()
    assert ids.tolist() == sorted(set(keys.tolist()))
    assert np.diff(bounds).tolist() == [int((keys == k).sum()) for k in ids.tolist()]
    assert bounds[0] == 0 and bounds[-1] == len(keys)


def test_group_slots_rejects_keys_out_of_range():
    assert not kernels.group_slots(np.array([0, 5, -1], np.int64), 10)[0]
    assert not kernels.group_slots(np.array([0, 10], np.int64), 10)[0]


def test_format_index_at_every_digit_count():
    """Each power of ten and its neighbours (where the digit count changes), both signs,
    and the int64 extremes."""
    values = sorted({s * x for p in range(19) for x in (10 ** p - 1, 10 ** p, 10 ** p + 1)
                     for s in (1, -1)} | {2 ** 63 - 1, -2 ** 63})
    key = np.array(values, np.int64)
    small = np.abs(key) % (2 ** 31)
    ctext, csize, stext, ssize = _tables(True, 10 ** 6, 10 ** 6)
    out = np.empty(kernels.index_size(key, small, small, csize, ssize), np.uint8)
    kernels.format_index(out, key, small, small, ctext, csize, stext, ssize)
    assert bytes(out) == "".join(f"{a},{b},{b}\n" for a, b in zip(values, small.tolist())).encode()


def test_jit_ready_leaves_scipy_importable():
    """qserv.jit.ready (run when the kernels are imported) hides SciPy's BLAS from numba only
    while numba loads: no None entry is left behind, so SciPy still imports."""
    import importlib.util
    import sys

    from qserv import jit
    jit.ready()
    assert sys.modules.get("scipy.linalg.cython_blas", 0) is not None
    if importlib.util.find_spec("scipy") is not None:
        import scipy.linalg.cython_blas  # noqa: F401


def test_scan_lines_declines_a_block_without_its_last_newline():
    """Whole lines only: a block whose last line has no LF gets status 1 (general path), at
    any capacity, and nothing is written past the arrays sized for its lines."""
    data = _u8(b"1,2\n3,4\n5,6")
    for capacity in (-1, 0, 1, 2, 10):
        status = kernels.scan_lines(data, 2, np.array([0, 1], np.int64), np.array([True, False]),
                                    POW10, _u8(b"NNNN"), capacity)[0]
        assert status == 1, capacity
