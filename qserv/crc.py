"""The C function the compiled loops call for the manifest's CRC-32 checksums (the files'
CRC32 as written, partitioner/appender.py, and the row checksums, qserv/row_checksum.py).

ISA-L's `crc32_gzip_refl` from the `isal` package when it loads (folding with carry-less
multiplies: 9.2 GB/s here against zlib's 1.6 GB/s, about 0.7 CPU-s per 10M-row run), else
zlib's `crc32`. Both compute zlib's CRC-32 with the signature (crc, pointer, length) -> crc
and give the same value for the same bytes. The loops receive its address as an argument, so their machine code names no library."""

from __future__ import annotations

import functools


@functools.cache
def address() -> int | None:
    """Address of a C function computing zlib's CRC-32, or None when none loads (the
    appender then writes from Python and reads its files back for the checksums)."""
    import ctypes
    import ctypes.util
    try:
        import isal.isal_zlib as isal_zlib
        fn = ctypes.CDLL(isal_zlib.__file__).crc32_gzip_refl
        fn.restype, fn.argtypes = ctypes.c_uint32, [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint64]
        if fn(0, b"123456789", 9) == 0xCBF43926:     # the CRC-32 check value
            return ctypes.cast(fn, ctypes.c_void_p).value
    except (ImportError, OSError, AttributeError):
        pass
    import zlib  # noqa: F401  (its libz is the one to use)
    name = ctypes.util.find_library("z")
    if name is None:
        return None
    try:
        return ctypes.cast(ctypes.CDLL(name).crc32, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
