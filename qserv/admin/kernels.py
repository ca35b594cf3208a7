"""`python -m qserv.admin.kernels`: build every package's compiled loops for this machine
(the core's and the partitioner's; mechanism and safety: qserv/compiled.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from partitioner.compiled import LIBRARY as PARTITIONER
from qserv.compiled import CORE, KernelLibrary

LIBRARIES: list[KernelLibrary] = [CORE, PARTITIONER]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qserv.admin.kernels", description=(
        "Build the compiled loops (partitioner, geometry, checksums) ahead of time for this "
        "machine, so that `qserv partition` starts without numba. Without them, numba compiles "
        "them on first use as before (slower start)."))
    p.add_argument("--out-dir", help="where to write the modules (default: $QSERV_KERNELS_DIR, "
                   "else each package's _built directory, else ~/.cache/qserv); processes look "
                   "for them in those places only, so another directory must be named by "
                   "QSERV_KERNELS_DIR")
    p.add_argument("--check", action="store_true", help="only say whether this machine's "
                   "modules are built and in use")
    a = p.parse_args(argv)
    for library in LIBRARIES:
        if a.check:
            print(f"{library.name} kernels: {library.backend()} (key {library.key()})")
        else:
            print(f"built {library.build(Path(a.out_dir) if a.out_dir else None)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
