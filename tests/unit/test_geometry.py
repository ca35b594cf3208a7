"""Property tests of qserv.geometry.Chunker.locate (DESIGN §3), with healpy as the reference.

healpy is used directly (at the chunk order and at the fine order) rather than through the
code under test, so a wrong shift, a wrong order or a RING/NESTED mix-up shows up here.
"""

from __future__ import annotations

import math

import healpy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qserv.geometry import MAX_ORDER, Chunker

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Orders used by real catalogs (chunks ~ order 7) and by demos (order 5), plus the extremes.
chunkers = st.builds(
    lambda order, bits: Chunker(chunk_order=order, subchunk_bits=bits),
    st.integers(min_value=0, max_value=12), st.integers(min_value=0, max_value=6),
) | st.sampled_from([Chunker(), Chunker(7, 3), Chunker(0, 0), Chunker(MAX_ORDER, 0),
                     Chunker(MAX_ORDER - 4, 4)])

ra_any = st.floats(min_value=0.0, max_value=360.0, allow_nan=False, allow_infinity=False)
dec_any = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False, allow_infinity=False)
# RA values on a grid of 2**-16 deg: ra + 360 and ra - 360 are then exact in float64, so the
# three spellings of the same direction are bit-for-bit the same angle modulo 360.
ra_grid = st.integers(min_value=0, max_value=360 * 2 ** 16 - 1).map(lambda k: k / 2 ** 16)


def ref_pixel(order: int, ra: float, dec: float) -> int:
    return int(healpy.ang2pix(2 ** order, ra % 360.0, dec, nest=True, lonlat=True))


def locate1(chunker: Chunker, ra: float, dec: float) -> tuple[int, int]:
    chunk, sub = chunker.locate(ra, dec)
    return int(chunk), int(sub)


@SETTINGS
@given(chunkers, ra_any, dec_any)
def test_ids_in_range(chunker, ra, dec):
    chunk, sub = locate1(chunker, ra, dec)
    assert 0 <= chunk < 12 * 4 ** chunker.chunk_order == chunker.n_chunks
    assert 0 <= sub < 4 ** chunker.subchunk_bits


@SETTINGS
@given(chunkers, ra_any, dec_any)
def test_chunk_is_healpy_nested_pixel_at_chunk_order(chunker, ra, dec):
    chunk, _ = locate1(chunker, ra, dec)
    assert chunk == ref_pixel(chunker.chunk_order, ra, dec)


@SETTINGS
@given(chunkers, ra_any, dec_any)
def test_fine_pixel_is_chunk_and_subchunk(chunker, ra, dec):
    chunk, sub = locate1(chunker, ra, dec)
    bits = chunker.subchunk_bits
    fine = ref_pixel(chunker.chunk_order + bits, ra, dec)
    assert (chunk << 2 * bits) + sub == fine
    assert fine >> 2 * bits == chunk and fine - (chunk << 2 * bits) == sub


@SETTINGS
@given(chunkers, ra_any, dec_any)
def test_subchunk_lies_inside_its_chunk(chunker, ra, dec):
    """The centre of the sub-chunk's fine pixel falls in the same chunk (nested children)."""
    chunk, sub = locate1(chunker, ra, dec)
    fine_order = chunker.chunk_order + chunker.subchunk_bits
    lon, lat = healpy.pix2ang(2 ** fine_order, (chunk << 2 * chunker.subchunk_bits) + sub,
                              nest=True, lonlat=True)
    assert ref_pixel(chunker.chunk_order, float(lon), float(lat)) == chunk


@SETTINGS
@given(chunkers, ra_grid, dec_any)
def test_ra_wraps_around(chunker, ra, dec):
    here = locate1(chunker, ra, dec)
    assert locate1(chunker, ra + 360.0, dec) == here
    assert locate1(chunker, ra - 360.0, dec) == here
    assert locate1(chunker, ra + 720.0, dec) == here


@pytest.mark.parametrize("chunker", [Chunker(), Chunker(7, 3), Chunker(0, 2)])
def test_ra_360_is_ra_0(chunker):
    for dec in (-89.5, -30.0, 0.0, 12.5, 60.0, 89.9):
        assert locate1(chunker, 360.0, dec) == locate1(chunker, 0.0, dec)
        assert locate1(chunker, -0.0, dec) == locate1(chunker, 0.0, dec)


@SETTINGS
@given(chunkers, ra_any)
def test_poles(chunker, ra):
    north, south = locate1(chunker, ra, 90.0), locate1(chunker, ra, -90.0)
    order = chunker.chunk_order
    # HEALPix base pixels 0-3 touch the north pole, 8-11 the south pole.
    assert north[0] >> 2 * order in (0, 1, 2, 3)
    assert south[0] >> 2 * order in (8, 9, 10, 11)
    assert north[0] == ref_pixel(order, ra, 90.0)
    assert south[0] == ref_pixel(order, ra, -90.0)
    for dec, (chunk, sub) in ((90.0, north), (-90.0, south)):
        fine = ref_pixel(order + chunker.subchunk_bits, ra, dec)
        assert (chunk << 2 * chunker.subchunk_bits) + sub == fine


@pytest.mark.parametrize("ra, dec", [
    (0.0, 90.0000001), (10.0, -90.0000001), (0.0, 180.0), (0.0, -1e9),
    (0.0, math.nan), (math.nan, 0.0), (math.inf, 0.0), (-math.inf, 10.0), (0.0, math.inf),
])
def test_invalid_positions_raise(ra, dec):
    with pytest.raises(ValueError):
        Chunker().locate(ra, dec)


@SETTINGS
@given(st.floats(min_value=90.0, exclude_min=True) | st.floats(max_value=-90.0, exclude_max=True)
       | st.just(math.nan))
def test_any_dec_outside_range_raises(dec):
    with pytest.raises(ValueError):
        Chunker().locate(0.0, dec)


def test_one_bad_row_in_a_batch_raises_and_names_it():
    ra = np.array([1.0, 2.0, 3.0, 4.0])
    dec = np.array([0.0, 10.0, 95.0, 20.0])
    with pytest.raises(ValueError, match="row 2"):
        Chunker().locate(ra, dec)


@SETTINGS
@given(chunkers, st.lists(st.tuples(ra_any, dec_any), min_size=1, max_size=40))
def test_vectorized_equals_scalar(chunker, points):
    ra = np.array([p[0] for p in points])
    dec = np.array([p[1] for p in points])
    chunks, subs = chunker.locate(ra, dec)
    assert chunks.shape == subs.shape == (len(points),)
    assert chunks.dtype == np.int64 and subs.dtype == np.int64
    for i, (r, d) in enumerate(points):
        assert (int(chunks[i]), int(subs[i])) == locate1(chunker, r, d)
    # lists are accepted the same way as arrays
    c2, s2 = chunker.locate(list(ra), list(dec))
    assert np.array_equal(c2, chunks) and np.array_equal(s2, subs)


def test_known_points_demo_order():
    """A few fixed points (order 5, 3 bits), cross-checked with healpy at order 8."""
    c = Chunker(5, 3)
    for ra, dec in [(0.0, 0.0), (45.0, 0.0), (359.999, -15.0), (180.0, 41.8103), (10.0, 85.0)]:
        fine = int(healpy.ang2pix(2 ** 8, ra, dec, nest=True, lonlat=True))
        assert locate1(c, ra, dec) == (fine // 64, fine % 64)


def test_every_fine_pixel_centre_maps_to_itself():
    """Every order-8 pixel centre maps to that pixel (chunk << 6 | sub), also nudged by 1e-9 deg."""
    c = Chunker(5, 3)
    fine_order = 8
    lon, lat = healpy.pix2ang(2 ** fine_order, np.arange(12 * 4 ** fine_order), nest=True, lonlat=True)
    chunks, subs = c.locate(lon, lat)
    assert np.array_equal((chunks << 6) + subs, np.arange(12 * 4 ** fine_order))
    chunks2, subs2 = c.locate(lon + 1e-9, lat)
    assert np.array_equal(chunks, chunks2) and np.array_equal(subs, subs2)


def test_chunk_counts_and_area():
    for order in (0, 3, 5, 7):
        c = Chunker(order, 2)
        assert c.n_chunks == healpy.nside2npix(2 ** order)
        assert c.chunk_area_deg2 * c.n_chunks == pytest.approx(41252.96, rel=1e-6)
        assert c.chunk_area_deg2 == pytest.approx(healpy.nside2pixarea(2 ** order, degrees=True))


@pytest.mark.parametrize("order, bits", [(-1, 3), (5, -1), (MAX_ORDER, 1), (MAX_ORDER - 2, 3)])
def test_invalid_chunker_settings(order, bits):
    with pytest.raises(ValueError):
        Chunker(chunk_order=order, subchunk_bits=bits)


def test_light_healpix_import_leaves_healpy_importable_as_usual():
    """qserv.healpix loads healpy's pixel functions without healpy's package code; a later
    `import healpy` must still run that code in full and agree with ours."""
    import subprocess
    import sys
    code = ("import sys; from qserv import healpix; assert 'astropy.io.fits' not in sys.modules and 'astropy.coordinates' not in sys.modules; "
            "assert 'healpy' not in sys.modules; import healpy; "
            "assert hasattr(healpy, 'read_map') and hasattr(healpy, 'pixelfunc'); "
            "import numpy as np; ra = np.linspace(0, 359, 50); dec = np.linspace(-89, 89, 50); "
            "assert (healpy.ang2pix(64, ra, dec, nest=True, lonlat=True) == "
            "healpix.ang2pix(64, ra, dec, nest=True, lonlat=True)).all(); "
            "assert (healpy.query_disc(64, healpy.ang2vec(10, 20, lonlat=True), 0.1, nest=True) == "
            "healpix.query_disc(64, healpix.ang2vec(10, 20, lonlat=True), 0.1, nest=True)).all()")
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.one_of(st.floats(-720, 720), st.sampled_from([0.0, -0.0, 360.0, 90.0, 180.0, 270.0])),
                          st.one_of(st.floats(-90, 90), st.sampled_from([-90.0, 90.0, 0.0, 41.810314895778596]))),
                min_size=1, max_size=50),
       st.integers(0, 29))
def test_nest_pixels_are_healpys(points, order):
    """healpix.nest_pixels (healpy's conversion and compiled ang2pix, without its input checks)
    and RA wrapped only when needed give exactly healpy's ang2pix(..., lonlat=True) of RA mod 360."""
    from qserv import geometry, healpix
    ra = np.array([p[0] for p in points])
    dec = np.array([p[1] for p in points])
    expect = healpix.ang2pix(2 ** order, np.mod(ra, 360.0), dec, nest=True, lonlat=True)
    assert healpix.nest_pixels(order, geometry._wrapped(ra), dec).tolist() == expect.tolist()
