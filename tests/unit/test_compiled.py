"""The loops built ahead of time (qserv/compiled.py, partitioner/compiled.py) against numba's JIT of the same source."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from partitioner import compiled as pcompiled
from qserv.admin.kernels import LIBRARIES

ROOT = Path(__file__).resolve().parents[2]


def _library(name):
    return next(lib for lib in LIBRARIES if name in lib.exports)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """This machine's modules, one per library: the installed ones (scripts/install.sh builds
    them), else ones built for this test (~30 s)."""
    import importlib.util
    modules = {}
    for lib in LIBRARIES:
        if lib.backend() == "built":
            modules[lib.name] = lib.load_built()
            continue
        path = lib.build(tmp_path_factory.mktemp("built"), quiet=True)
        spec = importlib.util.spec_from_file_location(lib.module_name(), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[lib.name] = module
    return modules


def _checked(built, name):
    lib = _library(name)
    return lib.checked(built[lib.name], name)


def test_built_functions_give_the_jits_results(built):
    from partitioner import kernels
    from qserv import geometry_kernels
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 1000, 5000).astype(np.int64)
    for a, b in zip(_checked(built, "group_slots")(keys, 1024), kernels.group_slots(keys, 1024)):
        assert np.array_equal(a, b)
    key, chunk, sub = (rng.integers(-10**12, 10**12, 300), rng.integers(0, 200000, 300),
                       rng.integers(0, 64, 300))
    tables = _checked(built, "id_texts")(100_000, 44, 44) + _checked(built, "id_texts")(64, -1, 10)
    for a, b in zip(tables, kernels.id_texts(100_000, 44, 44) + kernels.id_texts(64, -1, 10)):
        assert np.array_equal(a, b)
    ctext, csize, stext, ssize = tables
    size = _checked(built, "index_size")(key, chunk, sub, csize, ssize)
    assert size == kernels.index_size(key, chunk, sub, csize, ssize)
    out_built, out_jit = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
    _checked(built, "format_index")(out_built, key, chunk, sub, *tables)
    kernels.format_index(out_jit, key, chunk, sub, *tables)
    assert out_built.tobytes() == out_jit.tobytes()
    assert out_built.tobytes().decode().splitlines()[0] == f"{key[0]},{chunk[0]},{sub[0]}"
    text = b"".join(b"%d,%.6f,x%d\n" % (i, rng.random(), i) for i in range(2000))
    buf = np.frombuffer(text, np.uint8)
    args = (buf, 3, np.array([0, 1], np.int64), np.array([False, True]),
            compiled_pow10(), np.frombuffer(b"xNxN", np.uint8), 2500)
    got, want = _checked(built, "scan_lines")(*args), kernels.scan_lines(*args)
    assert got[0] == want[0] == 0 and got[-1] and want[-1]
    for a, b in zip(got[1:-1], want[1:-1]):
        assert np.array_equal(a, b)
    from qserv import checksum_kernels, crc
    if crc.address() is not None:
        bounds = np.array([0, 100, 100, len(buf) // 2, len(buf)], np.int64)
        for a, b in zip(_checked(built, "line_sums")(buf, bounds, crc.address()),
                        checksum_kernels.line_sums(buf, bounds, crc.address())):
            assert np.array_equal(a, b)
    pix = rng.integers(0, 12 * 4 ** 12, 2000).astype(np.int64)
    for a, b in zip(_checked(built, "locate_and_select")(pix, 12, 7, 3, 9, 40.0),
                    geometry_kernels.locate_and_select(pix, 12, 7, 3, 9, 40.0)):
        assert np.array_equal(a, b)
    ra, dec = rng.uniform(0, 360, 3000), rng.uniform(-90, 90, 3000)
    pos = rng.integers(-1, 500, 3000).astype(np.int64)
    dra, ddec = rng.uniform(0, 360, 500), rng.uniform(-90, 90, 500)
    assert _checked(built, "max_offset")(ra, dec, pos, dra, ddec) == kernels.max_offset(ra, dec, pos, dra, ddec)


def compiled_pow10():
    from partitioner.constants import POW10
    return POW10


def test_arguments_the_module_was_not_built_for_go_to_the_jit(built):
    """A wrong dtype, a strided array or a read-only output would be misread by machine
    code that checks nothing: the check sends such calls to the JIT, which is right."""
    from partitioner import kernels
    pcompiled.jit_calls.clear()
    group_slots = _checked(built, "group_slots")
    keys32 = np.array([3, 1, 3, 0], np.int32)
    ok, slot, ids, bounds = group_slots(keys32, 4)
    assert ok and ids.tolist() == [0, 1, 3] and slot.tolist() == [2, 1, 3, 0]
    assert pcompiled.jit_calls["group_slots"] == 1
    strided = np.arange(20, dtype=np.int64)[::2]
    assert group_slots(strided, 64)[2].tolist() == strided.tolist()
    assert pcompiled.jit_calls["group_slots"] == 2
    out = np.zeros(6, np.uint8)
    out.flags.writeable = False
    with pytest.raises(Exception):        # the JIT refuses to write into it
        _checked(built, "format_index")(out, np.array([1]), np.array([2]), np.array([3]),
                                        *kernels.id_texts(10, 44, 44), *kernels.id_texts(10, -1, 10))
    assert pcompiled.jit_calls["format_index"] == 1


def _partition(tmp: Path, out: str, mode: str, csv: Path) -> dict:
    spec = {"name": "t", "chunk_order": 5, "subchunk_bits": 3, "overlap_deg": 0.5, "tables": [{
        "name": "Object", "role": "director", "ra": "ra", "dec": "decl", "director_key": "id",
        "data": [str(csv)], "csv": {"header": False},
        "columns": [{"name": "id", "type": "BIGINT"}, {"name": "ra", "type": "DOUBLE"},
                    {"name": "decl", "type": "DOUBLE"}, {"name": "mag", "type": "DOUBLE"}]}]}
    (tmp / "spec.json").write_text(json.dumps(spec))
    code = ("import sys, json; from qserv.catalog import DatabaseSpec; from partitioner import run; "
            "from partitioner import compiled; from qserv import compiled as core; "
            f"run.partition(DatabaseSpec.read({str(tmp / 'spec.json')!r}), "
            f"run.Options(out_dir={str(tmp / out)!r}, progress=False)); "
            "print(json.dumps([compiled.backend(), 'numba' in sys.modules, dict(compiled.jit_calls) | dict(core.jit_calls)]))")
    env = dict(os.environ, QSERV_KERNELS=mode)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True)
    backend, numba_loaded, jit_calls = json.loads(res.stdout.strip().splitlines()[-1])
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest()
             for p in (tmp / out).rglob("*") if p.is_file() and p.name != "manifest.json"}
    return {"backend": backend, "numba": numba_loaded, "jit_calls": jit_calls, "files": files}


def test_a_partition_run_gives_the_same_files_either_way_and_the_built_one_loads_no_numba(tmp_path, built):
    if any(lib.backend() != "built" for lib in LIBRARIES):
        pytest.skip("this machine's modules are not installed (python -m qserv.admin.kernels)")
    rng = np.random.default_rng(11)
    n = 30_000
    ra, dec = rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    csv = tmp_path / "obj.csv"
    csv.write_text("".join(f"{i},{a:.7f},{d:.7f},{m:.3f}\n"
                           for i, a, d, m in zip(range(n), ra, dec, rng.uniform(15, 25, n))))
    fast = _partition(tmp_path, "built", "auto", csv)
    slow = _partition(tmp_path, "jit", "jit", csv)
    assert fast["backend"] == "built" and slow["backend"] == "jit"
    assert not fast["numba"] and fast["jit_calls"] == {}
    assert len(fast["files"]) > 100 and fast["files"] == slow["files"]


def test_a_module_in_qserv_kernels_dir_is_the_one_loaded(tmp_path, built):
    """QSERV_KERNELS_DIR is looked in first (a read-only installation keeps its module
    elsewhere)."""
    source = Path(built["partitioner"].__file__)
    shutil.copy(source, tmp_path / source.name)
    code = ("from partitioner.compiled import LIBRARY as lib; "
            "print(lib.backend(), lib.load_built().__file__)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, QSERV_KERNELS_DIR=str(tmp_path)), check=True)
    backend, path = res.stdout.split()
    assert backend == "built" and Path(path).parent == tmp_path
