"""The compiled loops (partitioner/kernels.py, qserv/geometry_kernels.py,
qserv/checksum_kernels.py), built ahead of time
when they can be, else compiled by numba's JIT as before.

Why: numba itself costs every `qserv partition` process ~0.6 CPU-s before its first row:
importing numba (~0.3 s), loading its implementation registries (~0.25 s, qserv/jit.py) and
loading each cached function. On a 10M-row input that was 6% of the run. `build()` compiles
the loops once (numba's ahead-of-time compiler, `numba.pycc`) into one extension module, and
a process that finds it imports that module alone: no numba, no LLVM.

Safety, since machine code run with the wrong arguments crashes instead of raising:
- The module's name carries a key: a hash of the loops' sources, of this file (the signatures
  below) and of this CPU's model and instruction-set flags (the code uses them all, like the
  JIT's). Any edit of the sources, or another CPU, gives another key: the module is not
  found, and the JIT serves (`backend()` says which is in use).
- Every call goes through a check of its arguments against the signature it was built for
  (dtype, dimensions, C-contiguity, writable where the loop writes; ~1 us a call, and calls
  are per block). Arguments that do not fit go to the JIT function instead (counted in
  `jit_calls`), so a caller with other dtypes gets the right answer, only slower.

`python -m qserv.compiled` builds the module (scripts/install.sh does); `QSERV_KERNELS=jit`
forces the JIT (tests compare the two); `QSERV_KERNELS_DIR` names a directory to look in
first (an installation whose package directory is read-only)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import platform
import sys
from collections import Counter
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
_SOURCES = [_HERE / "compiled.py", _HERE / "geometry_kernels.py", _HERE / "jit.py",
            _HERE / "checksum_kernels.py", _HERE.parent / "partitioner" / "kernels.py"]

# name: (module, arguments). An argument is "int" (int64), "float" (float64) or an array:
# dtype code, [] for 1-D or [,] for 2-D (C-contiguous), ! when the loop writes into it.
_DTYPES = {"u8": "uint8", "i4": "int32", "i8": "int64", "u64": "uint64", "f8": "float64", "b1": "bool"}
_KERNELS = "partitioner.kernels"
_GEOMETRY = "qserv.geometry_kernels"
_CHECKSUM = "qserv.checksum_kernels"
EXPORTS = {
    "contains": (_KERNELS, "u8[] u8[]"),
    "scan_lines": (_KERNELS, "u8[] int i8[] b1[] f8[] u8[] int"),
    "group_slots": (_KERNELS, "i8[] int"),
    "id_texts": (_KERNELS, "int int int"),
    "emit_layout": (_KERNELS, "i8[] i8[] i8[] i8[] i8[] i8[] i8[] u8[] u8[]"),
    "emit_rows": (_KERNELS, "u8[]! i8[] u8[] i8[] i8[] i8[] i8[] i8[] i8[] i8[] u64[] u8[] u64[] u8[]"),
    "index_size": (_KERNELS, "i8[] i8[] i8[] u8[] u8[]"),
    "format_index": (_KERNELS, "u8[]! i8[] i8[] i8[] u64[] u8[] u64[] u8[]"),
    "write_groups": (_KERNELS, "i4[] u8[,]! i8[]! u64[]! i8[] u8[] i8[] int"),
    "write_carries": (_KERNELS, "i4[] u8[,]! i8[]! u64[]! i8[] int"),
    "locate_and_select": (_GEOMETRY, "i8[] int int int int float"),
    "candidates": (_GEOMETRY, "i8[,] i8[] int"),
    "near_pairs": (_GEOMETRY, "i8[] f8[] f8[] i8[] i8[] f8[] f8[] f8[] int float"),
    "line_sums": (_CHECKSUM, "u8[] i8[] int"),
}

jit_calls: Counter = Counter()     # calls that went to the JIT while a built module was loaded


def _cpu_identity() -> bytes:
    """This CPU's model and instruction-set flags (Linux), else the machine's architecture."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            info = f.read(1 << 16).split(b"\n\n")[0]
        return b"\n".join(line for line in info.splitlines()
                          if line.startswith((b"model name", b"flags", b"vendor_id")))
    except OSError:
        return platform.machine().encode()


def key() -> str:
    h = hashlib.sha256()
    for path in _SOURCES:
        h.update(path.read_bytes())
    h.update(_cpu_identity())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def _module_name() -> str:
    return f"_qserv_kernels_{key()}"


def _places() -> list[Path]:
    """Where a built module is looked for (and written: the first writable): $QSERV_KERNELS_DIR
    when set, the package's own _built directory, the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qserv"
    named = os.environ.get("QSERV_KERNELS_DIR")
    return ([Path(named)] if named else []) + [_HERE / "_built", cache]


def _suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def _load_built():
    name = _module_name()
    for place in _places():
        path = place / (name + _suffix())
        if path.exists():
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


class _Checked:
    """A built function behind a check of its arguments; the JIT function otherwise."""

    def __init__(self, name: str, fn, args: str):
        self.name, self.fn = name, fn
        self.checks = [_check(a) for a in args.split()]

    def __call__(self, *args):
        if len(args) == len(self.checks) and all(ok(a) for ok, a in zip(self.checks, args)):
            return self.fn(*args)
        jit_calls[self.name] += 1
        return _jit(self.name)(*args)


def _array_spec(spec: str) -> tuple[str, int, bool]:
    """(dtype code, dimensions, written) of an array argument of EXPORTS."""
    code, shape = spec.rstrip("!").split("[")
    return code, 2 if shape == ",]" else 1, spec.endswith("!")


def _check(spec: str):
    if spec == "int":
        return lambda a: isinstance(a, (int, np.integer)) and not isinstance(a, bool)
    if spec == "float":
        return lambda a: isinstance(a, (float, int, np.floating, np.integer))
    code, ndim, writes = _array_spec(spec)
    dtype = np.dtype(_DTYPES[code])

    def ok(a):
        return (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == ndim
                and a.flags.c_contiguous and (a.flags.writeable or not writes))
    return ok


def _jit(name: str):
    from qserv import jit
    jit.ready()
    return getattr(importlib.import_module(EXPORTS[name][0]), name)


_backend: str | None = None
_functions: dict = {}


def backend() -> str:
    """"built" (the ahead-of-time module) or "jit"."""
    _resolve()
    assert _backend is not None   # _resolve() always sets it
    return _backend


def _resolve() -> None:
    global _backend
    if _backend is not None:
        return
    module = None
    if os.environ.get("QSERV_KERNELS", "").lower() != "jit":
        try:
            module = _load_built()
        except ImportError:
            module = None
    if module is None:
        _backend = "jit"
        return
    for name, (_, args) in EXPORTS.items():
        _functions[name] = _Checked(name, getattr(module, name), args)
    _backend = "built"


def __getattr__(name: str):
    """compiled.<loop>: the built function (checked) or the JIT one."""
    if name not in EXPORTS:
        raise AttributeError(name)
    _resolve()
    fn = _functions.get(name)
    if fn is None:
        fn = _functions[name] = _jit(name)
    return fn


def _numba_signature(args: str) -> str:
    parts = []
    for spec in args.split():
        if spec in ("int", "float"):
            parts.append("int64" if spec == "int" else "float64")
            continue
        code, ndim, _ = _array_spec(spec)
        dtype = "boolean" if code == "b1" else _DTYPES[code]
        parts.append(f"{dtype}[:, ::1]" if ndim == 2 else f"{dtype}[::1]")
    return "(" + ", ".join(parts) + ")"


def build(out_dir: Path | None = None, quiet: bool = False) -> Path:
    """Compile every function of EXPORTS into this machine's module (~1-2 min); returns its
    path. Modules built for other keys in that directory are removed."""
    from numba.core import codegen
    from numba.pycc import CC

    from qserv import jit
    jit.ready()
    # The JIT compiles for this CPU's exact features; the ahead-of-time codegen by default
    # for a CPU model's. Use the JIT's choice: the key names this CPU, so the module is only
    # ever loaded where these instructions exist.
    setattr(codegen.AOTCPUCodegen, "_customize_tm_features",   # a patch of numba's class
            lambda self: self._get_host_cpu_features())
    places = [Path(out_dir)] if out_dir else _places()
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
            probe = place / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
            break
        except OSError:
            continue
    else:
        raise OSError(f"no writable place for the compiled module among {places}")
    name = _module_name()
    cc = CC(name)
    cc.output_dir = str(place)
    cc.target_cpu = "host"
    cc.verbose = False
    for fname, (module, args) in EXPORTS.items():
        fn = getattr(importlib.import_module(module), fname)
        cc.export(fname, _numba_signature(args))(fn.py_func)
    if not quiet:
        print(f"compiling {len(EXPORTS)} functions into {place / (name + _suffix())} ...", flush=True)
    cc.compile()
    for old in place.glob("_qserv_kernels_*"):
        if not old.name.startswith(name):
            old.unlink(missing_ok=True)
    return place / (name + _suffix())


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(prog="python -m qserv.compiled", description=(
        "Build the partitioner's compiled loops ahead of time for this machine, so that "
        "`qserv partition` starts without numba. Without it, numba compiles them on first "
        "use as before (slower start)."))
    p.add_argument("--out-dir", help="where to write the module (default: $QSERV_KERNELS_DIR, "
                   "else qserv/_built, else ~/.cache/qserv); processes look for it in those "
                   "places only, so another directory must be named by QSERV_KERNELS_DIR")
    p.add_argument("--check", action="store_true", help="only say whether this machine's module "
                   "is built and in use")
    a = p.parse_args()
    if a.check:
        print(f"kernels: {backend()} (key {key()})")
    else:
        print(f"built {build(Path(a.out_dir) if a.out_dir else None)}")
