"""Compiled loops built ahead of time when they can be, else compiled by numba's JIT as before:
a `KernelLibrary` per package that owns loops. The core's (qserv/geometry_kernels.py,
qserv/checksum_kernels.py) is `CORE`, reached as `compiled.<loop>`; the partitioner owns its
own (partitioner/compiled.py), so the core names no role's modules.

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

`python -m qserv.admin.kernels` builds every library's module (scripts/install.sh does); `QSERV_KERNELS=jit`
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

# An argument is "int" (int64), "float" (float64) or an array: dtype code, [] for 1-D or [,]
# for 2-D (C-contiguous), ! when the loop writes into it.
_DTYPES = {"u8": "uint8", "i4": "int32", "i8": "int64", "u64": "uint64", "f8": "float64", "b1": "bool"}


def _cpu_identity() -> bytes:
    """This CPU's model and instruction-set flags (Linux), else the machine's architecture."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            info = f.read(1 << 16).split(b"\n\n")[0]
        return b"\n".join(line for line in info.splitlines()
                          if line.startswith((b"model name", b"flags", b"vendor_id")))
    except OSError:
        return platform.machine().encode()


def _suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def _array_spec(spec: str) -> tuple[str, int, bool]:
    """(dtype code, dimensions, written) of an array argument."""
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


class _Checked:
    """A built function behind a check of its arguments; the JIT function otherwise."""

    def __init__(self, name: str, fn, args: str, library: "KernelLibrary"):
        self.name, self.fn, self.library = name, fn, library
        self.checks = [_check(a) for a in args.split()]

    def __call__(self, *args):
        if len(args) == len(self.checks) and all(ok(a) for ok, a in zip(self.checks, args)):
            return self.fn(*args)
        self.library.jit_calls[self.name] += 1
        return self.library.jit(self.name)(*args)


class KernelLibrary:
    """The loops of one package: `exports` maps a loop's name to (its module, its arguments).

    The built module's name carries `key()`: a hash of `sources` (the loops and this file),
    of this CPU and of the Python version, so an edit or another machine finds no module and
    the JIT serves."""

    def __init__(self, name: str, home: Path, sources: list[Path], exports: dict[str, tuple[str, str]]):
        self.name, self.home, self.exports = name, home, exports
        self.sources = [Path(__file__).resolve(), _HERE / "jit.py", *sources]
        self.jit_calls: Counter = Counter()   # calls that went to the JIT while a built module was loaded
        self._backend: str | None = None
        self._functions: dict = {}

    def key(self) -> str:
        h = hashlib.sha256()
        for path in self.sources:
            h.update(path.read_bytes())
        h.update(_cpu_identity())
        h.update(sys.version.encode())
        return h.hexdigest()[:16]

    def module_name(self) -> str:
        return f"_qserv_{self.name}_kernels_{self.key()}"

    def places(self) -> list[Path]:
        """Where a built module is looked for (and written: the first writable):
        $QSERV_KERNELS_DIR when set, the package's own _built directory, the user's cache."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qserv"
        named = os.environ.get("QSERV_KERNELS_DIR")
        return ([Path(named)] if named else []) + [self.home / "_built", cache]

    def load_built(self):
        name = self.module_name()
        for place in self.places():
            path = place / (name + _suffix())
            if path.exists():
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
        return None

    def jit(self, name: str):
        from qserv import jit
        jit.ready()
        return getattr(importlib.import_module(self.exports[name][0]), name)

    def checked(self, module, name: str) -> _Checked:
        return _Checked(name, getattr(module, name), self.exports[name][1], self)

    def backend(self) -> str:
        """"built" (the ahead-of-time module) or "jit"."""
        if self._backend is None:
            module = None
            if os.environ.get("QSERV_KERNELS", "").lower() != "jit":
                try:
                    module = self.load_built()
                except ImportError:
                    module = None
            if module is not None:
                for name in self.exports:
                    self._functions[name] = self.checked(module, name)
            self._backend = "jit" if module is None else "built"
        return self._backend

    def function(self, name: str):
        """The built function (checked) or the JIT one."""
        self.backend()
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = self.jit(name)
        return fn

    def build(self, out_dir: Path | None = None, quiet: bool = False) -> Path:
        """Compile every exported loop into this machine's module (~30 s-2 min); returns its
        path. Modules of this library built for other keys in that directory are removed."""
        from numba.core import codegen
        from numba.pycc import CC

        from qserv import jit
        jit.ready()
        # The JIT compiles for this CPU's exact features; the ahead-of-time codegen by default
        # for a CPU model's. Use the JIT's choice: the key names this CPU, so the module is only
        # ever loaded where these instructions exist.
        setattr(codegen.AOTCPUCodegen, "_customize_tm_features",   # a patch of numba's class
                lambda self: self._get_host_cpu_features())
        place = _writable([Path(out_dir)] if out_dir else self.places())
        name = self.module_name()
        cc = CC(name)
        cc.output_dir = str(place)
        cc.target_cpu = "host"
        cc.verbose = False
        for fname, (module, args) in self.exports.items():
            fn = getattr(importlib.import_module(module), fname)
            cc.export(fname, _numba_signature(args))(fn.py_func)
        if not quiet:
            print(f"compiling {len(self.exports)} functions into {place / (name + _suffix())} ...",
                  flush=True)
        cc.compile()
        for old in place.glob(f"_qserv_{self.name}_kernels_*"):
            if not old.name.startswith(name):
                old.unlink(missing_ok=True)
        return place / (name + _suffix())


def _writable(places: list[Path]) -> Path:
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
            probe = place / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
            return place
        except OSError:
            continue
    raise OSError(f"no writable place for a compiled module among {places}")


_GEOMETRY = "qserv.geometry_kernels"
_CHECKSUM = "qserv.checksum_kernels"
CORE = KernelLibrary("core", _HERE, [_HERE / "geometry_kernels.py", _HERE / "checksum_kernels.py"], {
    "locate_and_select": (_GEOMETRY, "i8[] int int int int float"),
    "candidates": (_GEOMETRY, "i8[,] i8[] int"),
    "near_pairs": (_GEOMETRY, "i8[] f8[] f8[] i8[] i8[] f8[] f8[] f8[] int float"),
    "line_sums": (_CHECKSUM, "u8[] i8[] int"),
})
jit_calls = CORE.jit_calls


def backend() -> str:
    return CORE.backend()


def __getattr__(name: str):
    """compiled.<loop>: the core's built function (checked) or the JIT one."""
    if name not in CORE.exports:
        raise AttributeError(name)
    return CORE.function(name)
