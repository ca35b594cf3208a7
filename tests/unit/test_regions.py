"""Property tests of qserv.regions: chunks() is a superset of the chunks holding the points a
region contains (wrap-around, poles, every shape), and bad arguments are refused.

The chunk of a point comes from Chunker.locate (healpy ang2pix), independent of the query_*
calls under test; points are drawn inside each region (by rejection from a sampled cap).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qserv.geometry import Chunker
from qserv.regions import Box, Circle, Ellipse, Polygon, RegionError, make_region

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
chunkers = st.sampled_from([Chunker(3, 2), Chunker(5, 3), Chunker(7, 3)])
ras = st.floats(0, 360, exclude_max=True)
decs = st.floats(-90, 90)


def assert_superset(region, chunker, ra, dec):
    inside = region.contains(ra, dec)
    if not inside.any():
        return 0
    chunk, _ = chunker.locate(np.asarray(ra)[inside], np.asarray(dec)[inside])
    got = region.chunks(chunker)
    missing = set(int(c) for c in chunk) - got
    assert not missing, f"{region}: chunks {sorted(missing)[:5]} hold inside points but were pruned"
    return int(inside.sum())


def sample_cap(rng, ra0, dec0, radius_deg, n=4000):
    """Points uniformly distributed in a spherical cap (plus its boundary's neighbourhood)."""
    c = math.cos(math.radians(min(180.0, radius_deg * 1.05 + 1e-6)))
    z = rng.uniform(c, 1, n)
    phi = rng.uniform(0, 2 * math.pi, n)
    s = np.sqrt(1 - z * z)
    local = np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)
    # rotate the north pole to (ra0, dec0)
    ra, dec = math.radians(ra0), math.radians(dec0)
    zax = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    xax = np.array([-math.sin(ra), math.cos(ra), 0.0])
    yax = np.cross(zax, xax)
    v = local @ np.stack([xax, yax, zax])
    return np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1)))


@SETTINGS
@given(chunkers, ras, decs, st.floats(0.001, 30), st.integers(0, 2**32 - 1))
def test_circle_chunks_cover_its_points(chunker, ra, dec, radius, seed):
    region = Circle(ra, dec, radius)
    px, py = sample_cap(np.random.default_rng(seed), ra, dec, radius)
    assert_superset(region, chunker, px, py)


@SETTINGS
@given(chunkers, ras, decs, st.floats(1, 30000), st.floats(0.01, 1), st.floats(-360, 360),
       st.integers(0, 2**32 - 1))
def test_ellipse_chunks_cover_its_points(chunker, ra, dec, major, ratio, pa, seed):
    region = Ellipse(ra, dec, major, major * ratio, pa)
    px, py = sample_cap(np.random.default_rng(seed), ra, dec, major / 3600)
    assert_superset(region, chunker, px, py)


@SETTINGS
@given(chunkers, st.floats(-30, 400), st.floats(0.01, 40), decs, st.floats(0.01, 20),
       st.integers(0, 2**32 - 1))
def test_box_chunks_cover_its_points(chunker, ra_min, width, dec_a, height, seed):
    dec_min, dec_max = max(-90, dec_a - height), min(90, dec_a + height)
    ra_max = ra_min + width
    if 0 <= ra_min <= 360 and ra_max > 360:  # the wrapped spelling: raMin > raMax
        ra_max -= 360
    region = Box(ra_min, dec_min, ra_max, dec_max)
    rng = np.random.default_rng(seed)
    px = rng.uniform(ra_min - 1, ra_min + width + 1, 6000) % 360
    py = rng.uniform(dec_min - 0.5, dec_max + 0.5, 6000).clip(-90, 90)
    # the box's own corners and edges too
    px = np.concatenate([px, [ra_min % 360, ra_max % 360] * 2])
    py = np.concatenate([py, [dec_min, dec_min, dec_max, dec_max]])
    assert_superset(region, chunker, px, py)


@SETTINGS
@given(chunkers, ras, st.floats(-80, 80), st.floats(0.05, 20), st.integers(3, 8),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_polygon_chunks_cover_its_points(chunker, ra, dec, radius, n, clockwise, seed):
    # a regular polygon inscribed in a circle is convex
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    if clockwise:
        angles = angles[::-1]
    vx, vy = [], []
    for a in angles:
        # destination point at distance `radius` and bearing a from the center
        d, b, la, lo = math.radians(radius), a, math.radians(dec), math.radians(ra)
        lat2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(b))
        lon2 = lo + math.atan2(math.sin(b) * math.sin(d) * math.cos(la), math.cos(d) - math.sin(la) * math.sin(lat2))
        vx.append(math.degrees(lon2) % 360)
        vy.append(math.degrees(lat2))
    region = Polygon(tuple(zip(vx, vy)))
    px, py = sample_cap(np.random.default_rng(seed), ra, dec, radius)
    assert assert_superset(region, chunker, px, py) > 0 or radius < 0.1


def test_box_wraps_through_zero():
    box = Box(350, -5, 10, 5)
    assert box.contains([355, 5, 0, 180, 349.9, 10.1], [0, 0, 5, 0, 0, 0]).tolist() == \
        [True, True, True, False, False, False]
    c = Chunker(5, 3)
    chunks = box.chunks(c)
    near_zero, _ = c.locate([359.9, 0.1, 5, 355], [0, 0, -4, 4])
    assert set(near_zero.tolist()) <= chunks
    far, _ = c.locate([180], [0])
    assert int(far[0]) not in chunks
    assert len(chunks) < c.n_chunks / 10


def test_regions_at_the_poles():
    c = Chunker(5, 3)
    cap = Circle(123, 90, 1)
    pole_chunks, _ = c.locate(np.arange(0, 360, 7.5), np.full(48, 89.5))
    assert set(pole_chunks.tolist()) <= cap.chunks(c)
    band = Box(0, 89, 360, 90)
    assert set(pole_chunks.tolist()) <= band.chunks(c)
    south = Box(100, -90, 110, -89)
    s_chunks, _ = c.locate(np.linspace(100, 110, 20), np.full(20, -89.5))
    assert set(s_chunks.tolist()) <= south.chunks(c)


def test_pruning_is_effective():
    c = Chunker(7, 3)
    assert len(Circle(10, 10, 0.1).chunks(c)) <= 8
    assert len(Box(10, 10, 10.5, 10.5).chunks(c)) <= 20
    assert len(Ellipse(10, 10, 60, 30, 45).chunks(c)) <= 8


@pytest.mark.parametrize("kind, args, message", [
    ("circle", [1, 2], "takes 3"),
    ("circle", [1, 2, 0], "radius must be > 0"),
    ("circle", [1, 2, -1], "radius must be > 0"),
    ("circle", [1, 91, 1], "declination"),
    ("box", [1, 2, 3], "takes 4"),
    ("box", [0, -91, 10, 0], "declination"),
    ("box", [0, 10, 10, 0], "decMin"),
    ("box", [-10, 0, -20, 5], "wraps"),
    ("ellipse", [1, 2, 10, 20, 0], "semiMinor"),
    ("ellipse", [1, 2, 40000, 20, 0], "at most"),
    ("poly", [0, 0, 1, 0, 1], "takes an even number"),
    ("poly", [0, 0, 1, 0], "takes an even number"),
    ("poly", [0, 0, 2, 0, 1, 1, 2, 2, 0, 2], "convex"),
    ("poly", [0, 0, 1, 0, 1, 100], "declination"),
])
def test_bad_arguments(kind, args, message):
    with pytest.raises(RegionError, match=message):
        make_region(kind, [float(a) for a in args])
