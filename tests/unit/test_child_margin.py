"""Child tables with positions of their own (Source's ra/decl): the partitioner measures how far
a row lies from its director (the chunk holding it), the ingest registers that margin (or a
declared larger one, never a smaller), and a region widened by it keeps every chunk that holds a
matching row (property test, at the RA wrap and the poles)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partitioner import Options, compiled, partition
from qserv.admin.demo import _offset, generate
from qserv.admin.ingest_client import IngestClientError, plan_from_manifest
from qserv.catalog import DatabaseSpec, TableSpec
from qserv.geometry import Chunker
from qserv.regions import Box, Circle, Ellipse, Polygon
from tests.unit.test_regions import sample_cap

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def angle(ra1, dec1, ra2, dec2) -> np.ndarray:
    a1, d1, a2, d2 = (np.radians(np.asarray(x, float)) for x in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((a2 - a1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.minimum(1.0, h))))


def regular_polygon(ra, dec, radius, n):
    vx, vy = [], []
    for b in np.linspace(0, 2 * math.pi, n, endpoint=False):
        d, la, lo = math.radians(radius), math.radians(dec), math.radians(ra)
        lat2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(b))
        lon2 = lo + math.atan2(math.sin(b) * math.sin(d) * math.cos(la), math.cos(d) - math.sin(la) * math.sin(lat2))
        vx.append(math.degrees(lon2) % 360)
        vy.append(math.degrees(lat2))
    return Polygon(tuple(zip(vx, vy)))


def make_shape(kind, ra, dec, size):
    if kind == "circle":
        return Circle(ra, dec, size)
    if kind == "ellipse":
        return Ellipse(ra, dec, size * 3600, size * 1800, 30.0)
    if kind == "box":
        lo, hi = max(-90.0, dec - size), min(90.0, dec + size)
        ra_min, ra_max = ra - size, ra + size
        if ra_min < 0:
            ra_min += 360
        if ra_max > 360:
            ra_max -= 360
        return Box(ra_min, lo, ra_max, hi)
    return regular_polygon(ra, dec, size, 5)


centres = st.one_of(
    st.tuples(st.floats(0, 360, exclude_max=True), st.floats(-80, 80)),
    st.tuples(st.sampled_from([0.0, 359.99, 0.01, 180.0]), st.floats(-3, 3)),       # the RA wrap
    st.tuples(st.floats(0, 360, exclude_max=True), st.sampled_from([90.0, -90.0, 89.7, -89.2])))


@SETTINGS
@given(st.sampled_from([Chunker(3, 2), Chunker(5, 3), Chunker(7, 3)]),
       st.sampled_from(["circle", "ellipse", "box", "poly"]), centres,
       st.floats(0.01, 5), st.floats(0.0001, 3), st.integers(0, 2**32 - 1))
def test_widened_region_keeps_every_chunk_holding_a_matching_child(chunker, kind, centre, size,
                                                                   max_offset, seed):
    """Children drawn in and around the region, each placed in the chunk of a director up to
    `max_offset` away in any direction; the margin is what the partitioner's kernel measures.
    Every chunk holding a child inside the region is in region.chunks(chunker, margin)."""
    ra, dec = centre
    if kind == "poly" and abs(dec) > 85:
        dec = math.copysign(85.0, dec)     # a polygon around a pole: its vertices' own test
    region = make_shape(kind, ra, dec, size)
    rng = np.random.default_rng(seed)
    c_ra, c_dec = sample_cap(rng, ra, dec, size * 1.5, n=3000)
    off = np.radians(max_offset) * rng.uniform(0, 1, len(c_ra))
    bearing = rng.uniform(0, 2 * math.pi, len(c_ra))
    d_ra, d_dec = _offset(c_ra, c_dec, off * np.sin(bearing), off * np.cos(bearing))
    margin = compiled.max_offset(c_ra, c_dec, np.arange(len(c_ra), dtype=np.int64), d_ra, d_dec)
    assert margin >= angle(c_ra, c_dec, d_ra, d_dec).max() - 1e-12
    inside = region.contains(c_ra, c_dec)
    placed, _ = chunker.locate(d_ra[inside], d_dec[inside])
    missing = set(placed.tolist()) - region.chunks(chunker, margin)
    assert not missing, f"{region} widened by {margin}: chunks {sorted(missing)[:5]} pruned"


def test_max_offset_skips_rows_without_director_or_position():
    ra = np.array([10.0, 10.0, np.nan, 10.0])
    dec = np.array([0.0, 1.0, 0.0, 95.0])
    pos = np.array([0, -1, 0, 0], np.int64)
    got = compiled.max_offset(ra, dec, pos, np.array([10.5]), np.array([0.0]))
    assert got == pytest.approx(0.5, abs=1e-12)


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    """A small catalog with Sources ~1 arcmin (some ~0.5 deg) from their Object, at the RA
    wrap and the poles, partitioned with 1 and 2 jobs, and without NULLs in Source."""
    root = tmp_path_factory.mktemp("margin")
    path = generate(root / "data", n_objects=600, name="mg", chunk_order=4, pole_objects=200,
                    source_offset_arcsec=60, far_sources=0.02)
    spec = DatabaseSpec.read(path)
    out = {}
    for jobs in (1, 2):
        out[jobs] = root / f"out{jobs}"
        partition(spec, Options(out_dir=str(out[jobs]), jobs=jobs, piece_mb=1, progress=False, force=True))
    # the same Sources without NULL values: blocks take the line fast path (with NULLs, pyarrow's)
    plain = root / "plain"
    shutil.copytree(path.parent, plain)
    (plain / "Source.csv").write_bytes((plain / "Source.csv").read_bytes().replace(b"\\N", b"1.5"))
    out["plain"] = root / "out-plain"
    partition(DatabaseSpec.read(plain / "spec.json"),
              Options(out_dir=str(out["plain"]), jobs=1, progress=False, force=True))
    return spec, out


def true_margin(spec: DatabaseSpec) -> float:
    read = {t: pacsv.read_csv(f"{spec.source_dir}/{t}.csv",
                              convert_options=pacsv.ConvertOptions(null_values=["\\N"]))
            for t in ("Object", "Source")}
    where = dict(zip(read["Object"]["objectId"].to_pylist(),
                     zip(read["Object"]["ra"].to_pylist(), read["Object"]["decl"].to_pylist())))
    o = np.array([where[k] for k in read["Source"]["objectId"].to_pylist()])
    return float(angle(o[:, 0], o[:, 1], read["Source"]["ra"].to_numpy(),
                       read["Source"]["decl"].to_numpy()).max())


def test_partitioner_measures_the_largest_offset(partitioned):
    spec, out = partitioned
    want = true_margin(spec)
    assert want > 0.1       # the far Sources
    for jobs, d in out.items():
        m = json.loads((d / "manifest.json").read_text())
        assert m["tables"]["Source"]["position_margin"] == pytest.approx(want, rel=1e-9, abs=1e-12), jobs
        assert "position_margin" not in m["tables"]["Object"]


def _with_declared(out, margin):
    path = out / "manifest.json"
    m = json.loads(path.read_text())
    next(t for t in m["spec"]["tables"] if t["name"] == "Source")["position_margin"] = margin
    path.write_text(json.dumps(m))


def test_ingest_registers_the_measured_or_a_larger_declared_margin(partitioned):
    spec, out = partitioned
    measured = json.loads((out[1] / "manifest.json").read_text())["tables"]["Source"]["position_margin"]
    plan = plan_from_manifest(out[1])
    assert next(t for t in plan.tables if t.name == "Source").position_margin == measured
    _with_declared(out[2], 5.0)
    plan = plan_from_manifest(out[2])
    assert next(t for t in plan.tables if t.name == "Source").position_margin == 5.0
    _with_declared(out[2], measured / 2)
    with pytest.raises(IngestClientError, match="position_margin .* smaller margin would lose rows"):
        plan_from_manifest(out[2])


def test_table_spec_checks_positions_and_margin():
    cols = [{"name": "id", "type": "BIGINT"}, {"name": "ra", "type": "DOUBLE"}]
    with pytest.raises(ValueError, match="both position columns"):
        TableSpec(name="S", role="child", columns=cols, director_key="id", director_table="O", ra="ra")
    with pytest.raises(ValueError, match="position_margin is for child tables"):
        TableSpec(name="S", role="child", columns=cols, director_key="id", director_table="O",
                  position_margin=1.0)
    with pytest.raises(ValueError, match="within"):
        TableSpec(name="S", role="child", columns=cols, director_key="id", director_table="O",
                  ra="ra", dec="ra", position_margin=-1.0)
    t = TableSpec(name="S", role="child", columns=cols, director_key="id", director_table="O",
                  ra="ra", dec="ra", position_margin=0.25)
    assert t.has_position and t.position_margin == 0.25


def test_child_against_another_runs_director_index(partitioned, tmp_path):
    """A child partitioned alone against an earlier run's director index: measured with the
    positions that run kept; without them the margin is unknown (null), never guessed."""
    spec, out = partitioned
    want = json.loads((out[1] / "manifest.json").read_text())["tables"]["Source"]["position_margin"]
    m = partition(spec, Options(out_dir=str(tmp_path / "a"), tables=["Source"], progress=False,
                                director_index={"Object": str(out[1] / "Object")}))
    assert m["tables"]["Source"]["position_margin"] == want
    bare = tmp_path / "bare"
    shutil.copytree(out[1] / "Object", bare,
                    ignore=shutil.ignore_patterns("positions.part", "ras.npy", "decs.npy"))
    m = partition(spec, Options(out_dir=str(tmp_path / "b"), tables=["Source"], progress=False,
                                director_index={"Object": str(bare)}))
    assert m["tables"]["Source"]["position_margin"] is None
    assert m["tables"]["Source"]["rows_out"] == json.loads(
        (out[1] / "manifest.json").read_text())["tables"]["Source"]["rows_out"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["qserv_areaspec_circle({ra!r}, {dec!r}, {size!r})",
                        "qserv_areaspec_box({lo!r}, {dlo!r}, {hi!r}, {dhi!r})",
                        "scisql_s2PtInCircle(s.ra, s.decl, {ra!r}, {dec!r}, {size!r}) = 1",
                        "scisql_s2PtInBox(s.ra, s.decl, {lo!r}, {dlo!r}, {hi!r}, {dhi!r}) = 1"]),
       centres, st.floats(0.05, 3), st.floats(0.001, 2), st.integers(0, 2**32 - 1))
def test_spatial_pass_visits_every_chunk_holding_a_matching_source(template, centre, size,
                                                                   max_offset, seed):
    """End to end through the analysis passes (the demo catalog, chunk order 5): the chunks a
    query on Source alone visits hold every Source the exact test accepts, Sources being
    placed with Objects up to `max_offset` away and Source's margin the measured one."""
    import sqlglot
    from czar.analysis import PASSES, QueryContext
    from czar.catalog_cache import CatalogView
    from qserv.admin.demo import demo_spec
    ra, dec = centre
    rng = np.random.default_rng(seed)
    s_ra, s_dec = sample_cap(rng, ra, dec, size * 1.6, n=2000)
    off = np.radians(max_offset) * rng.uniform(0, 1, len(s_ra))
    bearing = rng.uniform(0, 2 * math.pi, len(s_ra))
    o_ra, o_dec = _offset(s_ra, s_dec, off * np.sin(bearing), off * np.cos(bearing))
    spec = demo_spec("demo")
    spec.table("Source").position_margin = compiled.max_offset(
        s_ra, s_dec, np.arange(len(s_ra), dtype=np.int64), o_ra, o_dec)
    lo, hi = (ra - size) % 360, (ra + size) % 360
    dlo, dhi = max(-90.0, dec - size), min(90.0, dec + size)
    where = template.format(ra=ra, dec=dec, size=size, lo=lo, hi=hi, dlo=dlo, dhi=dhi)
    select = sqlglot.parse_one(f"SELECT s.sourceId FROM Source s WHERE {where}", read="mysql")
    ctx = QueryContext(select=select, default_db="demo",
                       catalog=CatalogView(version=1, databases={"demo": spec}, published={"demo"}))
    for pass_ in PASSES:
        select = pass_(select, ctx)
    region = Circle(ra, dec, size) if "ircle" in template else Box(lo, dlo, hi, dhi)
    inside = region.contains(s_ra, s_dec)
    chunker = Chunker(spec.chunk_order, spec.subchunk_bits)
    placed, _ = chunker.locate(o_ra[inside], o_dec[inside])
    assert ctx.chunk_restriction is not None
    missing = set(placed.tolist()) - ctx.chunk_restriction
    assert not missing, f"{where}: chunks {sorted(missing)[:5]} hold matching Sources but are not visited"
