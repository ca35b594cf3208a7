"""numba, made ready without looking for SciPy's BLAS.

Why: the first compiled function a process calls (even one loaded from numba's cache) makes
numba load its numpy implementations, and one of them imports `scipy.linalg.cython_blas`
when SciPy is installed, to offer np.dot and np.linalg in compiled code. Our kernels use
neither, and that import is ~0.3 s of every `qserv partition` start (SciPy is often present
beside healpy, though nothing here needs it).

How: `ready()` has numba load its implementations while that one import fails at once (a
None entry in sys.modules, removed right after), so compiled numpy linear algebra is
unavailable in this process (nothing of ours uses it) and a later `import scipy.linalg`
anywhere works as usual. Call it before the first compiled function runs."""

from __future__ import annotations

import sys
import threading

_BLAS = "scipy.linalg.cython_blas"
_done = False
_lock = threading.Lock()    # threads whose first compiled call comes at once (qserv/verify.py):
                            # a second refresh during the first left numba's registries half
                            # loaded ("Unknown attribute 'size' of type array")


def ready() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        from numba.core.registry import cpu_target
        absent = _BLAS not in sys.modules
        if absent:
            sys.modules[_BLAS] = None  # type: ignore[assignment]  # import fails fast: numba goes on without BLAS
        try:
            cpu_target.target_context.refresh()
        finally:
            if absent and sys.modules.get(_BLAS, 0) is None:
                del sys.modules[_BLAS]
        _done = True
