"""Sky geometry: HEALPix chunks and sub-chunks (NESTED ordering), DESIGN §3.

A chunk is a HEALPix pixel at `chunk_order`; its sub-chunks are the nested children at
`chunk_order + subchunk_bits`. In the nested scheme a pixel's children are contiguous, so
    fine = ang2pix(order + bits),  chunkId = fine >> 2*bits,  subChunkId = fine - (chunkId << 2*bits)
which is one vectorized healpy call per batch of rows, no Python per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qserv import healpix
import numpy as np

MAX_ORDER = 29  # healpy's NESTED limit (nside = 2**29)


def checked_positions(ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """ra/dec as float64 arrays; ValueError naming the first row with a non-finite value or
    |dec| > 90 (a row must never land in a silently wrong chunk)."""
    ra = np.asarray(ra, dtype=np.float64)
    dec = np.asarray(dec, dtype=np.float64)
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (dec >= -90.0) & (dec <= 90.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"position out of range at row {i}: ra={ra.flat[i]!r} dec={dec.flat[i]!r}")
    return ra, dec


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
        ra, dec = checked_positions(ra, dec)
        fine = healpix.nest_pixels(self.chunk_order + self.subchunk_bits, _wrapped(ra), dec)
        shift = 2 * self.subchunk_bits
        chunk = fine >> shift
        return chunk, fine - (chunk << shift)

    def partition(self, ra, dec, overlap_deg: float = 0.0):
        """(chunkId, subChunkId, overlap_rows, overlap_chunks): `locate` plus the overlap
        chunks of every row (pairs row -> other chunk within `overlap_deg`), see below."""
        return _partition(self, ra, dec, overlap_deg)


# --- Overlap (DESIGN §3) --------------------------------------------------------------------
#
# A director row is also written to the overlap of every other chunk whose boundary is within
# `radius` of it. Exact distances to HEALPix pixel boundaries (curves, not great circles) are
# not needed: extra overlap rows are harmless, a missing one is a wrong answer. So the test is
# a conservative one, vectorized over all rows:
#
# 1. Pick the "probe" order P: the finest order whose pixels are at least 4x wider than the
#    radius (width measured as sqrt(pixel area)). A disc of radius r < 0.6 x width around a
#    point only touches the point's own pixel and its (up to 8) neighbours: measured on
#    millions of points near pixel corners, the first failures appear at 0.7 x width; we keep
#    a factor 2.4 below that.
#    At Qserv's sizes (order 7, 1 arcmin) the border probe pixels hold ~44% of the rows, where
#    only ~15% are within the radius of another chunk; so a row is kept only when its gap to
#    its chunk's border, counted in whole pixels of a much finer order, times a lower bound of
#    a pixel's width (_GAP_FACTOR), is within the radius (~27% of the rows).
# 2. Candidate pixels of each row: the 8 neighbours of its probe pixel (when P >= chunk_order),
#    or, when the radius is wider than a quarter chunk (P < chunk_order), all chunk-order
#    descendants of the probe pixel and its neighbours.
# 3. A candidate pixel is kept when the angle between the row and the pixel's centre is below
#    radius + max_pixrad (every point of a pixel lies within max_pixrad of its centre, so a
#    pixel farther than that cannot hold a point within `radius`), plus a small margin for
#    rounding. Its chunk is then one of the row's overlap chunks.

_WIDTH0 = math.sqrt(math.pi / 3.0)   # sqrt(4 pi / 12): width of an order-0 pixel, radians
_PROBE_FACTOR = 0.5                  # radius <= 0.5 x probe pixel width
_MARGIN_RAD = 1e-7                   # ~0.02 arcsec: covers float rounding of the angle tests
# A point g whole pixels (of order o) inside its chunk's border is at least
# g * _GAP_FACTOR * width(o) from it: the worst ratio measured (random points, both poles, the
# |z| = 2/3 latitudes, face corners; exact distances to finely sampled chunk boundaries) was
# 0.678, so 0.5 leaves a margin. Pixels of order probe + _GAP_BITS are ~1/64 of the radius.
_GAP_FACTOR = 0.5
_GAP_BITS = 5
_MAX_DESCENDANT_BITS = 4             # beyond 4**4 descendants per pixel, use healpix.query_disc


def probe_order(radius_deg: float) -> int:
    """The finest HEALPix order whose pixel width is >= radius / _PROBE_FACTOR (0 at least)."""
    r = math.radians(radius_deg)
    if r <= 0:
        return MAX_ORDER
    order = math.floor(math.log2(_WIDTH0 * _PROBE_FACTOR / r))
    return max(0, min(MAX_ORDER, order))


def _wrapped(ra: np.ndarray) -> np.ndarray:
    """RA modulo 360 (a copy only when some value is outside [0, 360): catalogs' RAs
    normally are inside)."""
    if ra.size and (ra.min() < 0.0 or ra.max() >= 360.0):
        return np.mod(ra, 360.0)
    return ra


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    a, d = np.radians(ra), np.radians(dec)
    cd = np.cos(d)
    return np.stack([cd * np.cos(a), cd * np.sin(a), np.sin(d)])


def _near(vec: np.ndarray, rows: np.ndarray, order: int, pix: np.ndarray, radius: float) -> np.ndarray:
    """Mask of (row, pixel) pairs whose pixel centre is within radius + max_pixrad of the row."""
    nside = 2 ** order
    limit = radius + healpix.max_pixrad(nside) + _MARGIN_RAD
    if limit >= math.pi:
        return np.ones(len(rows), dtype=bool)
    cx, cy, cz = healpix.pix2vec(nside, pix, nest=True)
    dot = vec[0, rows] * cx + vec[1, rows] * cy + vec[2, rows] * cz
    return dot > math.cos(limit)


def _unique_pairs(rows: np.ndarray, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) == 0:
        return rows.astype(np.int64), chunks.astype(np.int64)
    order = np.lexsort((chunks, rows))
    rows, chunks = rows[order], chunks[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (chunks[1:] != chunks[:-1])
    return rows[keep].astype(np.int64), chunks[keep].astype(np.int64)


def _partition(self: "Chunker", ra, dec, overlap_deg: float = 0.0):
    """(chunkId, subChunkId, overlap_rows, overlap_chunks) for arrays of ra/dec in degrees.

    `overlap_rows[i]` is a row index whose position is within `overlap_deg` of chunk
    `overlap_chunks[i]` (never the row's own chunk); pairs are unique and sorted by row.
    chunkId/subChunkId equal `locate`'s. Same validation as `locate`.
    """
    ra, dec = checked_positions(ra, dec)
    ra = _wrapped(ra)
    L, bits = self.chunk_order, self.subchunk_bits
    P = probe_order(overlap_deg) if overlap_deg > 0 else L + bits
    top = max(L + bits, P)
    if overlap_deg > 0 and P >= L:
        top = max(top, min(MAX_ORDER, P + _GAP_BITS))   # fine enough to measure the gap
    pix = healpix.nest_pixels(top, ra, dec)
    radius = math.radians(overlap_deg)
    if overlap_deg > 0 and len(ra) and P >= L:
        # Only rows in a probe pixel on the chunk's border can be near another chunk, and only
        # those whose gap to the chunk's border (in pixels of order `top`) is small enough.
        # The per-row steps are compiled loops (qserv/geometry_kernels.py), healpy's calls not.
        from qserv import compiled as gk
        reach = (radius + _MARGIN_RAD) / (_GAP_FACTOR * _WIDTH0 / 2 ** top)
        chunk, sub, rows = gk.locate_and_select(pix, top, L, bits, P, reach)
        shift = 2 * (P - L)
        nb = healpix.get_all_neighbours(2 ** P, pix[rows] >> 2 * (top - P), nest=True)
        pos, pixel = gk.candidates(nb.astype(np.int64), chunk[rows], shift)
        limit = radius + healpix.max_pixrad(2 ** P) + _MARGIN_RAD
        cos_limit = math.cos(limit) if limit < math.pi else -2.0
        cx, cy, cz = healpix.pix2vec(2 ** P, pixel, nest=True)
        o_rows, o_chunks = gk.near_pairs(rows, ra, dec, pos, pixel, cx, cy, cz, shift, cos_limit)
        return chunk, sub, o_rows, o_chunks
    fine = pix >> 2 * (top - L - bits)
    chunk = fine >> 2 * bits
    sub = fine - (chunk << 2 * bits)
    empty = np.zeros(0, np.int64)
    if overlap_deg <= 0 or len(ra) == 0:
        return chunk, sub, empty, empty
    probe = pix >> 2 * (top - P)
    if L - P <= _MAX_DESCENDANT_BITS:
        nb = healpix.get_all_neighbours(2 ** P, probe, nest=True).astype(np.int64)   # (8, N)
        d = 2 * (L - P)
        base = np.concatenate([probe[None, :], nb])                       # (9, N)
        kids = np.arange(4 ** (L - P), dtype=np.int64)
        vec = _unit_vectors(ra, dec)
        out_rows, out_chunks = [], []
        for j in range(base.shape[0]):      # 9 passes, each vectorized over rows x descendants
            ok = base[j] >= 0
            cand = (base[j][ok, None] << d) + kids[None, :]                # (n, 4**(L-P))
            rows = np.repeat(np.flatnonzero(ok), len(kids))
            cand = cand.ravel()
            m = cand != chunk[rows]
            rows, cand = rows[m], cand[m]
            keep = _near(vec, rows, L, cand, radius)
            out_rows.append(rows[keep])
            out_chunks.append(cand[keep])
        return (chunk, sub) + _unique_pairs(np.concatenate(out_rows), np.concatenate(out_chunks))
    # Overlap much wider than a chunk: one inclusive disc query per row (slow, unusual).
    vec = _unit_vectors(ra, dec)
    out_rows, out_chunks = [], []
    for i in range(len(ra)):
        c = healpix.query_disc(2 ** L, vec[:, i], radius + _MARGIN_RAD, inclusive=True, nest=True)
        c = c[c != chunk[i]]
        out_rows.append(np.full(len(c), i, np.int64))
        out_chunks.append(c.astype(np.int64))
    return (chunk, sub) + _unique_pairs(np.concatenate(out_rows), np.concatenate(out_chunks))

