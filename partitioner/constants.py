"""Values shared by the compiled loops (partitioner/kernels.py) and their callers, in a module
that imports no numba (a process running the loops built ahead of time never loads numba:
partitioner/compiled.py)."""

from __future__ import annotations

import numpy as np

POW10 = np.array([10.0 ** i for i in range(23)])   # exact doubles 1e0 .. 1e22
SUSPECTS = 4       # bytes kernels.scan_lines also looks for (first bytes of declined tokens)
BLOCK = 4096       # files written in whole blocks of this size (appender, kernels.write_groups)
