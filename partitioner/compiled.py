"""The partitioner's compiled loops (partitioner/kernels.py), built ahead of time for this
machine when they can be, else numba's JIT (the mechanism: qserv/compiled.py).

`compiled.<loop>` gives the partitioner's loops and, for convenience, the core's
(`line_sums`); `python -m qserv.admin.kernels` builds both libraries."""

from __future__ import annotations

from pathlib import Path

from qserv import compiled as core
from qserv.compiled import KernelLibrary

_HERE = Path(__file__).resolve().parent
_KERNELS = "partitioner.kernels"
LIBRARY = KernelLibrary("partitioner", _HERE, [_HERE / "kernels.py"], {
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
    "max_offset": (_KERNELS, "f8[] f8[] i8[] f8[] f8[]"),
})
jit_calls = LIBRARY.jit_calls


def backend() -> str:
    return LIBRARY.backend()


def __getattr__(name: str):
    """compiled.<loop>: the built function (checked) or the JIT one; the core's loops too."""
    if name in LIBRARY.exports:
        return LIBRARY.function(name)
    if name in core.CORE.exports:
        return core.CORE.function(name)
    raise AttributeError(name)
