"""Sky geometry: HEALPix chunks and sub-chunks (NESTED ordering), DESIGN §3.

A chunk is a HEALPix pixel at `chunk_order`; its sub-chunks are the nested children at
`chunk_order + subchunk_bits`. In the nested scheme a pixel's children are contiguous, so
    fine = ang2pix(order + bits),  chunkId = fine >> 2*bits,  subChunkId = fine - (chunkId << 2*bits)
which is one vectorized healpy call per batch of rows, no Python per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy
import numpy as np

MAX_ORDER = 29  # healpy's NESTED limit (nside = 2**29)


@dataclass(frozen=True)
class Chunker:
    """Maps positions (degrees) to (chunkId, subChunkId)."""

    chunk_order: int = 5
    subchunk_bits: int = 3

    def __post_init__(self):
        if not 0 <= self.chunk_order or self.chunk_order + self.subchunk_bits > MAX_ORDER:
            raise ValueError(f"chunk_order + subchunk_bits must be within 0..{MAX_ORDER}")
        if self.subchunk_bits < 0:
            raise ValueError("subchunk_bits must be >= 0")

    @property
    def n_chunks(self) -> int:
        return 12 * 4 ** self.chunk_order

    @property
    def chunk_area_deg2(self) -> float:
        return 4 * np.pi * (180 / np.pi) ** 2 / self.n_chunks

    def locate(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """(chunkId, subChunkId) arrays for arrays of ra/dec in degrees.

        Raises ValueError on dec outside [-90, 90] or non-finite values: a row must never
        land in a silently wrong chunk. RA is taken modulo 360.
        """
        ra = np.asarray(ra, dtype=np.float64)
        dec = np.asarray(dec, dtype=np.float64)
        bad = ~(np.isfinite(ra) & np.isfinite(dec) & (dec >= -90.0) & (dec <= 90.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"position out of range at row {i}: ra={ra.flat[i]!r} dec={dec.flat[i]!r}")
        fine = healpy.ang2pix(2 ** (self.chunk_order + self.subchunk_bits),
                              np.mod(ra, 360.0), dec, nest=True, lonlat=True).astype(np.int64)
        shift = 2 * self.subchunk_bits
        chunk = fine >> shift
        return chunk, fine - (chunk << shift)
