"""Property tests of the overlap invariant (DESIGN §3) of Chunker.partition:

for any two points closer than `overlap` that lie in different chunks, each is in the other's
chunk overlap. Points come from everywhere, with extra weight on the hard places: RA 0/360,
both poles, HEALPix pixel edges and corners (at the chunk order and finer), and overlaps
larger than a sub-chunk (or a chunk)."""

from __future__ import annotations

import math

import healpy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qserv.geometry import Chunker, probe_order

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

chunkers = st.sampled_from([Chunker(7, 3), Chunker(5, 3), Chunker(3, 2), Chunker(0, 2),
                            Chunker(9, 1), Chunker(11, 4), Chunker(6, 0)])
# 1 arcmin (Qserv's default), tiny, a sub-chunk or more, a chunk or more
radii = st.sampled_from([1 / 60, 1e-4, 0.05, 0.3, 1.0, 4.0])
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


def _vec(ra, dec):
    return np.array(healpy.ang2vec(ra, dec, lonlat=True), dtype=np.float64)


def _radec(v):
    ra, dec = healpy.vec2ang(v / np.linalg.norm(v), lonlat=True)
    return float(ra[0]) % 360.0, float(np.clip(dec[0], -90, 90))


@st.composite
def anchors(draw):
    """A point somewhere hard (or anywhere)."""
    kind = draw(st.sampled_from(["any", "ra0", "pole", "corner", "edge"]))
    if kind == "any":
        return draw(st.floats(0, 360, exclude_max=True)), math.degrees(math.asin(draw(st.floats(-1, 1))))
    if kind == "ra0":
        return draw(st.sampled_from([0.0, 359.9999999, 1e-9, 360 - 1e-12])), draw(st.floats(-89.9, 89.9))
    if kind == "pole":
        return draw(st.floats(0, 360, exclude_max=True)), draw(st.sampled_from([90.0, -90.0, 89.99, -89.999]))
    order = draw(st.integers(0, 12))
    nside = 2 ** order
    pix = draw(st.integers(0, 12 * nside * nside - 1))
    steps = 1 if kind == "corner" else 8
    b = healpy.boundaries(nside, pix, step=steps, nest=True)     # (3, 4*steps)
    i = draw(st.integers(0, b.shape[1] - 1))
    return _radec(b[:, i])


@st.composite
def pairs(draw):
    """(p, q) with angle(p, q) < radius, q in a random direction from p."""
    radius = draw(radii)
    ra, dec = draw(anchors())
    p = _vec(ra, dec)
    # a tangent direction at p
    a = np.cross(p, [0.0, 0.0, 1.0]) if abs(p[2]) < 0.9 else np.cross(p, [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(p, a)
    phi = 2 * math.pi * draw(unit)
    d = math.radians(radius) * draw(unit) * (1 - 1e-9)
    q = p * math.cos(d) + (a * math.cos(phi) + b * math.sin(phi)) * math.sin(d)
    return radius, (ra, dec), _radec(q)


def overlap_chunks(chunker, points, radius):
    ra = np.array([p[0] for p in points])
    dec = np.array([p[1] for p in points])
    chunk, _, rows, chunks = chunker.partition(ra, dec, radius)
    return chunk, [set(chunks[rows == i].tolist()) for i in range(len(points))]


@SETTINGS
@given(chunkers, pairs())
def test_close_points_are_in_each_others_overlap(chunker, pair):
    radius, p, q = pair
    chunk, ov = overlap_chunks(chunker, [p, q], radius)
    if chunk[0] != chunk[1]:
        assert int(chunk[1]) in ov[0], f"{p} misses the overlap of chunk {chunk[1]} (q={q})"
        assert int(chunk[0]) in ov[1], f"{q} misses the overlap of chunk {chunk[0]} (p={p})"


@SETTINGS
@given(chunkers, radii, st.lists(anchors(), min_size=1, max_size=20))
def test_partition_agrees_with_locate_and_pairs_are_clean(chunker, radius, points):
    ra = np.array([p[0] for p in points])
    dec = np.array([p[1] for p in points])
    chunk, sub, rows, chunks = chunker.partition(ra, dec, radius)
    c2, s2 = chunker.locate(ra, dec)
    assert (chunk == c2).all() and (sub == s2).all()
    assert (chunks != chunk[rows]).all()                      # never the row's own chunk
    pairs = list(zip(rows.tolist(), chunks.tolist()))
    assert len(pairs) == len(set(pairs)) and pairs == sorted(pairs)
    assert ((chunks >= 0) & (chunks < chunker.n_chunks)).all()


@pytest.mark.parametrize("chunker,radius", [(Chunker(7, 3), 1 / 60), (Chunker(5, 3), 0.5),
                                            (Chunker(7, 3), 1.0), (Chunker(9, 0), 5.0)])
def test_dense_random_pairs(chunker, radius):
    """Many pairs at once (all code paths: neighbours at the probe order, descendants of a
    coarser probe order, one disc query per row)."""
    rng = np.random.default_rng(7)
    n = 2000 if radius < 5 else 200
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1)[:, None]
    t = rng.normal(size=(n, 3))
    t -= (t * v).sum(1)[:, None] * v
    t /= np.linalg.norm(t, axis=1)[:, None]
    d = np.radians(radius) * rng.uniform(0, 1, n) * (1 - 1e-9)
    w = v * np.cos(d)[:, None] + t * np.sin(d)[:, None]
    pr, pd = healpy.vec2ang(v, lonlat=True)
    qr, qd = healpy.vec2ang(w, lonlat=True)
    ra, dec = np.concatenate([pr, qr]) % 360, np.concatenate([pd, qd])
    chunk, _, rows, chunks = chunker.partition(ra, dec, radius)
    have = set(zip(rows.tolist(), chunks.tolist()))
    for i in range(n):
        if chunk[i] != chunk[n + i]:
            assert (i, int(chunk[n + i])) in have
            assert (n + i, int(chunk[i])) in have


def test_overlap_is_not_wasteful_at_qserv_sizes():
    """At chunk order 7 with 1 arcmin, the share of rows copied to some overlap stays well
    below the whole table (the exact share is about 15%; the test is conservative: ~27%)."""
    rng = np.random.default_rng(1)
    n = 200_000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    _, _, rows, _ = Chunker(7, 3).partition(ra, dec, 1 / 60)
    assert len(np.unique(rows)) / n < 0.33


def test_probe_order():
    assert probe_order(1 / 60) >= 7          # finer than Qserv-sized chunks at 1 arcmin
    assert probe_order(90.0) == 0
    assert probe_order(0.0) == 29
