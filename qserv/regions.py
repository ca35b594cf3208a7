"""Sky regions of the Qserv dialect (DESIGN §3): box, circle, ellipse, convex polygon.

Each region answers two questions:
- `chunks(chunker, margin=0)`: a SUPERSET of the chunks (HEALPix pixels, nested, at
  chunk_order) that the region touches, or with `margin` (degrees) that come within `margin`
  of it, used to prune the chunks a query visits (the margin: a child table's rows lie in their
  director's chunk, at most `position_margin` from their own position);
- `predicate(ra, dec)`: the exact per-row test, as the scisql call that decides membership
  (`scisql_s2PtInBox(ra, dec, ...) = 1`, ...), whose semantics are scisql's.

`contains(ra, dec)` evaluates the same test in numpy (tests check chunks() against it).

Angles are degrees; ellipse semi-axes are arcseconds (scisql's convention). Arguments are
checked when a region is built: bad ones raise RegionError (a ValueError) with a message
meant for the person who typed the query; the czar turns it into MySQL error 1064.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qserv import healpix
import numpy as np
from sqlglot import exp

from qserv.geometry import Chunker, probe_order

ARCSEC_PER_DEG = 3600.0
MAX_POLY_VERTICES = 20      # scisql's SCISQL_MAX_VERTS
MAX_ELLIPSE_ARCSEC = 36000.0  # scisql: semi-major axis at most 10 degrees
MARGIN = 1e-9               # radians added to every query radius: a superset, never a subset


class RegionError(ValueError):
    pass


def _check_dec(name: str, value: float) -> None:
    if not -90.0 <= value <= 90.0:
        raise RegionError(f"{name}: declination must be within [-90, 90], got {value:g}")


def _finite(name: str, values) -> None:
    for v in values:
        if not math.isfinite(v):
            raise RegionError(f"{name}: arguments must be finite numbers")


def _num(v: float) -> exp.Expression:
    text = repr(float(v))
    if text.startswith("-"):
        return exp.Neg(this=exp.Literal.number(text[1:]))
    return exp.Literal.number(text)


def _call(name: str, ra: exp.Expression, dec: exp.Expression, args) -> exp.Expression:
    return exp.EQ(this=exp.Anonymous(this=name, expressions=[ra.copy(), dec.copy()] + [_num(a) for a in args]),
                  expression=exp.Literal.number(1))


def unit_vectors(ra, dec) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def angred(lon):
    """scisql's range reduction of a longitude to [0, 360)."""
    a = np.fmod(np.asarray(lon, float), 360.0)
    a = np.where(a < 0, a + 360.0, a)
    return np.where(a >= 360.0, 0.0, a)


def _nside(chunker: Chunker) -> int:
    return 2 ** chunker.chunk_order


def _disc_chunks(chunker: Chunker, ra: float, dec: float, radius_rad: float,
                 margin_deg: float = 0.0) -> set[int]:
    radius_rad += _margin_rad(margin_deg)
    if radius_rad + MARGIN >= math.pi:
        return set(range(chunker.n_chunks))
    vec = healpix.ang2vec(ra, dec, lonlat=True)
    return set(int(p) for p in healpix.query_disc(_nside(chunker), vec, radius_rad + MARGIN,
                                                 inclusive=True, nest=True))


def _margin_rad(margin_deg: float) -> float:
    """A position margin in radians, rounded up (a superset, never a subset)."""
    if margin_deg <= 0:
        return 0.0
    return math.radians(margin_deg) * (1 + 1e-9) + MARGIN


@dataclass(frozen=True)
class Box:
    """RA in [ra_min, ra_max] (wrapping through 0 when ra_min > ra_max), dec in [dec_min, dec_max]."""

    ra_min: float
    dec_min: float
    ra_max: float
    dec_max: float
    name: str = "qserv_areaspec_box"

    def __post_init__(self):
        _finite(self.name, (self.ra_min, self.dec_min, self.ra_max, self.dec_max))
        _check_dec(self.name, self.dec_min)
        _check_dec(self.name, self.dec_max)
        if self.dec_min > self.dec_max:
            raise RegionError(f"{self.name}: decMin ({self.dec_min:g}) is greater than decMax ({self.dec_max:g})")
        if self.ra_max < self.ra_min and (self.ra_max < 0 or self.ra_min > 360):
            raise RegionError(f"{self.name}: raMin > raMax wraps through 0 only when both lie in [0, 360]")

    @property
    def full_ra(self) -> bool:
        return self.ra_max - self.ra_min >= 360.0

    def contains(self, ra, dec):
        dec = np.asarray(dec, float)
        inside = (dec >= self.dec_min) & (dec <= self.dec_max)
        if self.full_ra:
            return inside
        p, lo, hi = angred(ra), float(angred(self.ra_min)), float(angred(self.ra_max))
        in_ra = (p >= lo) & (p <= hi) if lo <= hi else (p >= lo) | (p <= hi)
        return inside & in_ra

    def chunks(self, chunker: Chunker, margin: float = 0.0) -> set[int]:
        nside = _nside(chunker)
        # every point of a pixel is this close to its center (and a point within `margin` of
        # the pixel within r of the center)
        r = healpix.max_pixrad(nside) * (1 + 1e-6) + MARGIN + _margin_rad(margin)
        lo = math.radians(self.dec_min) - r
        hi = math.radians(self.dec_max) + r
        theta1, theta2 = max(0.0, math.pi / 2 - hi), min(math.pi, math.pi / 2 - lo)
        pix = healpix.query_strip(nside, theta1, theta2, inclusive=True, nest=True)
        if self.full_ra or len(pix) == 0:
            return set(int(p) for p in pix)
        ra_c, dec_c = healpix.pix2ang(nside, pix, nest=True, lonlat=True)
        # A point within r of the center (ra_c, dec_c) differs from it in RA by at most
        # 2 asin(sin(r/2) / cos(|dec_c| + r)) (haversine bound); near a pole, any RA.
        top = np.abs(np.radians(dec_c)) + r
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sin(r / 2) / np.cos(np.minimum(top, math.pi / 2))
        dra = np.where((top >= math.pi / 2) | (s >= 1), 360.0,
                       np.degrees(2 * np.arcsin(np.clip(s, 0, 1))) + 1e-9)
        lo_ra, hi_ra = float(angred(self.ra_min)), float(angred(self.ra_max))
        # distance in RA from the center to the box's RA interval (0 when inside)
        width = (hi_ra - lo_ra) % 360.0
        off = (angred(ra_c) - lo_ra) % 360.0       # how far past lo, going east
        gap = np.where(off <= width, 0.0, np.minimum(off - width, 360.0 - off))
        keep = gap <= dra
        return set(int(p) for p in pix[keep])

    def predicate(self, ra: exp.Expression, dec: exp.Expression) -> exp.Expression:
        return _call("scisql_s2PtInBox", ra, dec, (self.ra_min, self.dec_min, self.ra_max, self.dec_max))


@dataclass(frozen=True)
class Circle:
    ra: float
    dec: float
    radius: float  # degrees
    name: str = "qserv_areaspec_circle"

    def __post_init__(self):
        _finite(self.name, (self.ra, self.dec, self.radius))
        _check_dec(self.name, self.dec)
        if not 0 < self.radius <= 180:
            raise RegionError(f"{self.name}: radius must be > 0 and <= 180 degrees, got {self.radius:g}")

    def contains(self, ra, dec):
        ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
        ra0, dec0 = math.radians(self.ra), math.radians(self.dec)
        x = np.sin((ra - ra0) / 2) ** 2
        y = np.sin((dec - dec0) / 2) ** 2
        z = np.cos((dec + dec0) / 2) ** 2
        d2 = np.clip(4 * (x * (z - y) + y), 0, 4)
        near = np.abs(np.degrees(dec) - self.dec) <= self.radius
        return near & (d2 <= 4 * math.sin(math.radians(self.radius) / 2) ** 2)

    def chunks(self, chunker: Chunker, margin: float = 0.0) -> set[int]:
        return _disc_chunks(chunker, self.ra, self.dec, math.radians(self.radius), margin)

    def predicate(self, ra, dec):
        return _call("scisql_s2PtInCircle", ra, dec, (self.ra, self.dec, self.radius))


@dataclass(frozen=True)
class Ellipse:
    ra: float
    dec: float
    semi_major: float  # arcsec
    semi_minor: float  # arcsec
    pos_angle: float   # degrees east of north
    name: str = "qserv_areaspec_ellipse"

    def __post_init__(self):
        _finite(self.name, (self.ra, self.dec, self.semi_major, self.semi_minor, self.pos_angle))
        _check_dec(self.name, self.dec)
        if not 0 < self.semi_minor <= self.semi_major:
            raise RegionError(f"{self.name}: need 0 < semiMinor <= semiMajor (arcsec), got "
                              f"{self.semi_minor:g} and {self.semi_major:g}")
        if self.semi_major > MAX_ELLIPSE_ARCSEC:
            raise RegionError(f"{self.name}: semiMajor must be at most {MAX_ELLIPSE_ARCSEC:g} arcsec "
                              f"(10 degrees), got {self.semi_major:g}")

    def contains(self, ra, dec):
        v = unit_vectors(ra, dec)
        lon, lat, pa = (math.radians(a) for a in (self.ra, self.dec, self.pos_angle))
        xne = math.cos(lat) * v[..., 2] - math.sin(lat) * (math.sin(lon) * v[..., 1] + math.cos(lon) * v[..., 0])
        yne = math.cos(lon) * v[..., 1] - math.sin(lon) * v[..., 0]
        x = math.sin(pa) * yne + math.cos(pa) * xne
        y = math.cos(pa) * yne - math.sin(pa) * xne
        big = math.radians(self.semi_major / ARCSEC_PER_DEG)
        small = math.radians(self.semi_minor / ARCSEC_PER_DEG)
        front = v @ unit_vectors(self.ra, self.dec) > 0
        return front & (x * x / (big * big) + y * y / (small * small) <= 1.0)

    def chunks(self, chunker: Chunker, margin: float = 0.0) -> set[int]:
        # inside means sin(distance to the center) <= semi-major (radians), on the near side
        big = math.radians(self.semi_major / ARCSEC_PER_DEG)
        return _disc_chunks(chunker, self.ra, self.dec, math.asin(min(1.0, big)) * (1 + 1e-9), margin)

    def predicate(self, ra, dec):
        return _call("scisql_s2PtInEllipse", ra, dec,
                     (self.ra, self.dec, self.semi_major, self.semi_minor, self.pos_angle))


def edge_normals(vertices) -> np.ndarray:
    """Inward edge-plane normals of a polygon as scisql's s2PtInCPoly takes them: v_i x v_i+1,
    all flipped when the first one points away from the vertices' centroid (clockwise). No
    convexity check: for other vertex lists the test is the same intersection of half-spaces."""
    v = unit_vectors([p[0] for p in vertices], [p[1] for p in vertices])
    e = np.cross(v, np.roll(v, -1, axis=0))
    if v.sum(axis=0) @ e[0] < 0:
        e = -e
    return e


@dataclass(frozen=True)
class Polygon:
    """A convex spherical polygon; vertices in either orientation (scisql's s2PtInCPoly)."""

    vertices: tuple[tuple[float, float], ...]
    name: str = "qserv_areaspec_poly"

    def __post_init__(self):
        n = len(self.vertices)
        if not 3 <= n <= MAX_POLY_VERTICES:
            raise RegionError(f"{self.name}: a polygon needs 3 to {MAX_POLY_VERTICES} vertices "
                              f"(ra, dec pairs), got {n}")
        for ra, dec in self.vertices:
            _finite(self.name, (ra, dec))
            _check_dec(self.name, dec)
        edges = self.edges()
        verts = unit_vectors([v[0] for v in self.vertices], [v[1] for v in self.vertices])
        norms = np.linalg.norm(edges, axis=1)
        if (norms < 1e-15).any():
            raise RegionError(f"{self.name}: two consecutive vertices coincide or are antipodal")
        # convex: every vertex is on the inner side of every edge
        if ((verts @ edges.T) < -1e-12 * norms[None, :]).any():
            raise RegionError(f"{self.name}: the polygon must be convex (vertices in order, "
                              "edges not crossing)")

    def edges(self) -> np.ndarray:
        return edge_normals(self.vertices)

    def contains(self, ra, dec):
        return ((unit_vectors(ra, dec) @ self.edges().T) >= 0).all(axis=-1)

    def chunks(self, chunker: Chunker, margin: float = 0.0) -> set[int]:
        L = chunker.chunk_order
        if margin <= 0:
            return self._chunks(L)
        if probe_order(margin) < L:
            return self._cap_chunks(chunker, margin)
        # A margin under half a pixel's width at order F: a disc of that radius around a point
        # touches only the point's pixel and its neighbours (qserv/geometry.py, the overlap's
        # probe order), so one more ring of neighbours at F holds every pixel within `margin`.
        # F up to two orders finer than the chunks: the ring adds less area there.
        F = min(L + 2, probe_order(margin))
        coarse = self._chunks(L)
        if len(coarse) > 1024:      # a large polygon: its chunks and one more ring
            return coarse | _neighbours(L, coarse)
        fine = self._chunks(F)
        if fine:
            fine |= _neighbours(F, fine)
        shift = 2 * (F - L)
        return {p >> shift for p in fine}

    def _cap_chunks(self, chunker: Chunker, margin: float) -> set[int]:
        """A wide margin: the chunks within `margin` of the polygon's circumscribed cap (the
        cap around the vertices' mean direction through the farthest vertex holds the convex
        polygon)."""
        verts = unit_vectors([p[0] for p in self.vertices], [p[1] for p in self.vertices])
        mean = verts.sum(axis=0)
        norm = float(np.linalg.norm(mean))
        radius = float(np.arccos(np.clip(verts @ (mean / norm), -1.0, 1.0)).max()) if norm > 1e-9 else math.pi
        if radius >= math.pi / 2:
            return set(range(chunker.n_chunks))
        mean /= norm
        ra = math.degrees(math.atan2(mean[1], mean[0]))
        dec = math.degrees(math.asin(max(-1.0, min(1.0, mean[2]))))
        return _disc_chunks(chunker, ra, dec, radius * (1 + 1e-9) + MARGIN, margin)

    def _chunks(self, order: int) -> set[int]:
        """Pixels at `order` that may hold a point of the polygon."""
        verts = unit_vectors([p[0] for p in self.vertices], [p[1] for p in self.vertices])
        e = self.edges()
        if np.cross(verts[0], verts[1]) @ e[0] < 0:  # healpy wants counter-clockwise
            verts = verts[::-1]
        try:
            pix = healpix.query_polygon(2 ** order, verts, inclusive=True, nest=True)
        except (ValueError, RuntimeError) as err:
            raise RegionError(f"{self.name}: {err}") from None
        # healpy tests pixels against the exact edges; widen by one ring of neighbours so that
        # points on the boundary (inside by scisql's >= 0) are never lost.
        out = set(int(p) for p in pix)
        if out:
            out |= _neighbours(order, out)
        return out

    def predicate(self, ra, dec):
        return _call("scisql_s2PtInCPoly", ra, dec, [c for v in self.vertices for c in v])


def _neighbours(order: int, pixels: set[int]) -> set[int]:
    nb = healpix.get_all_neighbours(2 ** order, np.fromiter(pixels, np.int64), nest=True)
    return set(int(p) for p in nb.ravel() if p >= 0)


REGIONS = {"box": Box, "circle": Circle, "ellipse": Ellipse, "poly": Polygon}
ARG_COUNTS = {"box": "4 (raMin, decMin, raMax, decMax)", "circle": "3 (ra, dec, radius)",
              "ellipse": "5 (ra, dec, semiMajorArcsec, semiMinorArcsec, posAngleDeg)",
              "poly": "an even number, at least 6 (ra1, dec1, ra2, dec2, ra3, dec3, ...)"}


def make_region(kind: str, args: list[float], name: str | None = None):
    """A region from the numeric arguments of `qserv_areaspec_<kind>` (or of the scisql
    point-in-region function of the same shape)."""
    name = name or f"qserv_areaspec_{kind}"
    n = len(args)
    ok = {"box": n == 4, "circle": n == 3, "ellipse": n == 5,
          "poly": n >= 6 and n % 2 == 0}[kind]
    if not ok:
        raise RegionError(f"{name} takes {ARG_COUNTS[kind]} arguments, got {n}")
    if kind == "poly":
        return Polygon(tuple((args[i], args[i + 1]) for i in range(0, n, 2)), name=name)
    return REGIONS[kind](*args, name=name)
