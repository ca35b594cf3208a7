"""Compiled per-row steps of the overlap test (qserv.geometry._partition, order >= chunk
order case): the bit arithmetic on nested pixel indices and the distance test of candidate
pixels, fused into loops that read each row once (as numpy they were ~30 passes over
temporaries of every row). HEALPix itself (ang2pix, neighbours, pixel centres) stays healpy's.

Imported lazily by qserv.geometry: only the partitioner pays for numba."""

from __future__ import annotations

import numpy as np
from numba import njit

from qserv import jit

jit.ready()


@njit(cache=True, nogil=True, inline="always")
def _compact(v):
    """The even bits of v (>= 0), packed (de-interleaving a nested index)."""
    v = v & 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


@njit(cache=True, nogil=True)
def locate_and_select(pix, top, L, bits, P, reach):
    """From nested pixels at order `top`: (chunk, sub, rows). rows: the rows that may lie
    within the radius of another chunk: their probe pixel (order P) touches the chunk's
    border and their gap to it, in whole pixels of order `top`, is <= reach."""
    n = pix.size
    chunk = np.empty(n, np.int64)
    sub = np.empty(n, np.int64)
    near = np.empty(n, np.int64)
    m = 0
    fine_shift = 2 * (top - L - bits)
    sub_mask = (1 << (2 * bits)) - 1
    local_bits = top - L
    local_mask = (1 << (2 * local_bits)) - 1
    local_top = (1 << local_bits) - 1
    probe_shift = 2 * (top - P)
    probe_bits = P - L
    probe_mask = (1 << (2 * probe_bits)) - 1
    probe_top = (1 << probe_bits) - 1
    for i in range(n):
        p = pix[i]
        fine = p >> fine_shift
        chunk[i] = fine >> (2 * bits)
        sub[i] = fine & sub_mask
        local = p & local_mask
        x = _compact(local)
        y = _compact(local >> 1)
        gap = min(min(x, y), min(local_top - x, local_top - y))
        if gap > reach:
            continue
        probe = (p >> probe_shift) & probe_mask
        px = _compact(probe)
        py = _compact(probe >> 1)
        if px == 0 or py == 0 or px == probe_top or py == probe_top:
            near[m] = i
            m += 1
    return chunk, sub, near[:m]


@njit(cache=True, nogil=True)
def candidates(nb, own_chunk, shift):
    """Candidate (row position, neighbour pixel) pairs, row-major: nb is (8, M) neighbour
    pixels (-1: none) of M rows; kept when the neighbour lies in another chunk."""
    M = nb.shape[1]
    pos = np.empty(8 * M, np.int64)
    pixel = np.empty(8 * M, np.int64)
    c = 0
    for j in range(M):
        own = own_chunk[j]
        for k in range(8):
            q = nb[k, j]
            if q >= 0 and (q >> shift) != own:
                pos[c] = j
                pixel[c] = q
                c += 1
    return pos[:c], pixel[:c]


@njit(cache=True, nogil=True)
def near_pairs(rows, ra, dec, pos, pixel, cx, cy, cz, shift, cos_limit):
    """Overlap pairs (row, chunk), row-major and unique per row, chunks ascending within a
    row: candidate i (row rows[pos[i]] at ra/dec in degrees; pixel pixel[i] with centre
    (cx, cy, cz)[i]) is kept when the centre is within the limit angle of the row
    (dot > cos_limit). A row's unit vector is computed here, once per row with candidates
    (as numpy it was five passes and a stacked copy)."""
    c = pos.size
    out_rows = np.empty(c, np.int64)
    out_chunks = np.empty(c, np.int64)
    found = np.empty(8, np.int64)
    n_out = 0
    i = 0
    while i < c:
        j = pos[i]
        a = ra[rows[j]] * (np.pi / 180.0)
        d = dec[rows[j]] * (np.pi / 180.0)
        cd = np.cos(d)
        vx, vy, vz = cd * np.cos(a), cd * np.sin(a), np.sin(d)
        f = 0
        while i < c and pos[i] == j:
            if vx * cx[i] + vy * cy[i] + vz * cz[i] > cos_limit:
                ch = pixel[i] >> shift
                seen = False
                for t in range(f):
                    if found[t] == ch:
                        seen = True
                        break
                if not seen:
                    found[f] = ch
                    f += 1
            i += 1
        for t in range(1, f):            # insertion sort: at most 8 chunks (np.sort on a
            v = found[t]                  # slice per row cost more than the whole test)
            u = t - 1
            while u >= 0 and found[u] > v:
                found[u + 1] = found[u]
                u -= 1
            found[u + 1] = v
        for t in range(f):
            out_rows[n_out] = rows[j]
            out_chunks[n_out] = found[t]
            n_out += 1
    return out_rows[:n_out], out_chunks[:n_out]
