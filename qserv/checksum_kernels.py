"""The compiled loop of the manifest's row checksums (defined in qserv/row_checksum.py), and
the call through a C function's address that the loops use for CRC-32 (qserv/crc.py)."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from qserv import jit

jit.ready()


@intrinsic
def call_crc32(typingctx, fn, crc, addr, n):
    """fn(crc, addr, n) for the address fn of a C function uint32 (uint32, char *, uint64)."""
    def codegen(context, builder, signature, args):
        f, c, a, k = args
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fty = ir.FunctionType(i32, [i32, i64, i64])
        return builder.call(builder.inttoptr(f, fty.as_pointer()), [c, a, k])
    return types.uint32(types.int64, types.uint32, types.int64, types.uint64), codegen


_c_memchr = types.ExternalFunction("memchr", types.intp(types.intp, types.int32, types.uintp))


@njit(cache=True, nogil=True)
def line_sums(data, bounds, crc_fn):
    """(sums, lines) of each group data[bounds[i]:bounds[i+1]]: sums[i] (uint64) the row
    checksum of its lines, lines[i] how many (crc_fn: the address from qserv/crc.py)."""
    g = bounds.size - 1
    sums = np.zeros(max(g, 0), np.uint64)
    lines = np.zeros(max(g, 0), np.int64)
    base = data.ctypes.data
    for i in range(g):
        p = bounds[i]
        end = bounds[i + 1]
        s = np.uint64(0)
        n = 0
        while p < end:
            hit = _c_memchr(base + p, 10, end - p)
            stop = end if hit == 0 else hit - base + 1
            step = stop - p
            crc = np.uint32(0)
            done = 0
            while done < step:              # (in steps the C function's length type holds)
                k = min(step - done, 1 << 30)
                crc = call_crc32(crc_fn, crc, base + p + done, np.uint64(k))
                done += k
            s += np.uint64(crc)
            n += 1
            p = stop
        sums[i] = s
        lines[i] = n
    return sums, lines
