"""Spatial queries on a child table alone (Source, which has its own ra/decl) through the czar
and through one plain MariaDB: same rows, at the RA wrap and at both poles.

The catalog (`skyedge`): Objects in a patch around RA 0 and in caps around both poles, Sources
offset from their Object by ~1 arcmin in any direction (across the poles too), 3% of them by
~0.5 deg, so that some of them lie in another chunk than their Object's (which holds them), some
far beyond the slack of the chunk look-ups (healpy's inclusive discs and polygons). The czar prunes
chunks with regions widened by Source's position margin (measured by the partitioner,
registered by the ingest); a margin too small would lose exactly those Sources, which the
small cones centred on them below would show.
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pyarrow.csv as pacsv
import pytest

from qserv.admin.demo import generate
from qserv.admin.ingest_client import load
from qserv.catalog import DatabaseSpec
from qserv.geometry import Chunker
from qserv.admin.oracle import load_single
from tests.conftest import assert_same_result, czar_connect, query

DB = "skyedge"
OFFSET_ARCSEC = 60.0
FAR = 0.03      # the fraction of Sources 30 times as far (sigma 0.5 deg: chunks are ~1.8 deg)


@pytest.fixture(scope="module")
def edge_spec(tmp_path_factory):
    path = generate(tmp_path_factory.mktemp("skyedge-data"), n_objects=2500, name=DB,
                    chunk_order=5, ra_range=(-4.0, 4.0), dec_range=(-3.0, 3.0),
                    pole_objects=1500, pole_cap=2.5, sources_per_object=4,
                    source_offset_arcsec=OFFSET_ARCSEC, far_sources=FAR)
    # Sources whose own declination is out of range (nothing checks a child's position at
    # load): scisql answers NULL for them, never "inside" (beyond the pole they would look
    # like points near it to the bare formulas)
    with open(path.parent / "Source.csv", "a") as f:
        # (of the first Objects of the north and the south caps: their chunks are visited)
        for i, (ra, dec, obj) in enumerate([(0.0, 91.0, 25013), (180.0, 90.5, 25013),
                                            (10.0, -91.0, 32513), (0.1, 95.0, 25013)]):
            f.write(f"{990000001 + 100 * i},{obj},1,{ra},{dec},60500.0,10.0,0.5\n")
    return DatabaseSpec.read(path)


@pytest.fixture(scope="module")
def edge_cluster(cluster, edge_spec):
    load(cluster, edge_spec, show_progress=False)
    yield cluster
    req = urllib.request.Request(f"http://{cluster.host}:{cluster.http_port}/ingest/database/{DB}",
                                 method="DELETE")
    req.add_header("Authorization", f"Bearer {cluster.admin_token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())


@pytest.fixture(scope="module")
def edge_oracle(oracle, edge_spec):
    conn = oracle.connect()
    load_single(conn, edge_spec)
    conn.close()
    conn = oracle.connect(database=DB)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    conn.close()


@pytest.fixture
def edge_czar(edge_cluster):
    conn = czar_connect(edge_cluster, DB)
    yield conn
    conn.close()


def _rows(spec: DatabaseSpec, table: str):
    t = pacsv.read_csv(f"{spec.source_dir}/{table}.csv",
                       convert_options=pacsv.ConvertOptions(null_values=["\\N"]))
    return {c: t[c].to_numpy() for c in ("objectId", "ra", "decl") + (("sourceId",) if table == "Source" else ())}


@pytest.fixture(scope="module")
def strays(edge_spec):
    """Sources whose own position is in another chunk than their Object's (which holds them):
    (sourceId, ra, decl) rows, the farthest from their Object first."""
    obj, src = _rows(edge_spec, "Object"), _rows(edge_spec, "Source")
    valid = np.abs(src["decl"]) <= 90
    src = {k: v[valid] for k, v in src.items()}
    chunker = Chunker(edge_spec.chunk_order, edge_spec.subchunk_bits)
    o_chunk = dict(zip(obj["objectId"].tolist(), chunker.locate(obj["ra"], obj["decl"])[0].tolist()))
    s_chunk = chunker.locate(src["ra"], src["decl"])[0]
    placed = np.array([o_chunk[o] for o in src["objectId"].tolist()])
    away = np.flatnonzero(s_chunk != placed)
    o_pos = dict(zip(obj["objectId"].tolist(), zip(obj["ra"].tolist(), obj["decl"].tolist())))
    offset = [_angle(*o_pos[int(src["objectId"][i])], src["ra"][i], src["decl"][i]) for i in away]
    order = np.argsort(offset)[::-1]     # the farthest first
    return [(int(src["sourceId"][away[k]]), float(src["ra"][away[k]]), float(src["decl"][away[k]]))
            for k in order]


def _angle(ra1, dec1, ra2, dec2) -> float:
    a = np.radians([ra1, dec1, ra2, dec2])
    h = np.sin((a[3] - a[1]) / 2) ** 2 + np.cos(a[1]) * np.cos(a[3]) * np.sin((a[2] - a[0]) / 2) ** 2
    return float(np.degrees(2 * np.arcsin(np.sqrt(min(1.0, h)))))


def test_catalog_has_sources_away_from_their_chunk_at_the_wrap_and_poles(strays):
    """The data exercise the margin: Sources in another chunk than their Object's, near RA 0
    and near both poles."""
    decs = np.array([d for _, _, d in strays])
    ras = np.array([r for _, r, _ in strays])
    assert len(strays) >= 20
    assert (decs > 87).sum() >= 3 and (decs < -87).sum() >= 3
    assert ((np.abs(decs) < 5) & ((ras < 1) | (ras > 359))).sum() >= 1


def test_margin_is_registered(edge_czar):
    """The ingest carried the partitioner's measured margin into the czar's metadata: EXPLAIN
    names it, and it is about the largest offset (a few sigma of the far Sources' 0.5 deg)."""
    rows = dict(query(edge_czar, "EXPLAIN SELECT sourceId FROM Source "
                                 "WHERE qserv_areaspec_circle(0, 0, 0.2)")[1])
    assert "on Source.ra/decl widened by" in rows["pruned_by"]
    margin = float(rows["pruned_by"].split("widened by ")[1].split()[0])
    assert 2 * 30 * OFFSET_ARCSEC / 3600 < margin < 10 * 30 * OFFSET_ARCSEC / 3600


def test_explain_shows_pruning_on_source(edge_czar):
    every = int(dict(query(edge_czar, "EXPLAIN SELECT COUNT(*) FROM Source")[1])["chunks"])
    for sql in ("SELECT sourceId FROM Source WHERE qserv_areaspec_circle(0, 0, 0.5)",
                "SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 0, 90, 1) = 1",
                "SELECT sourceId FROM Source WHERE qserv_areaspec_box(359, -1, 1, 1)"):
        rows = dict(query(edge_czar, "EXPLAIN " + sql)[1])
        assert 0 < int(rows["chunks"]) < every, (sql, rows["chunks"])
        assert "widened by" in rows["pruned_by"]


# (query through the czar, the same for the oracle: restrictors become the scisql test)
QUERIES = [
    ("SELECT sourceId, ra, decl FROM Source WHERE qserv_areaspec_circle(0, 0, 1.5)",
     "SELECT sourceId, ra, decl FROM Source WHERE scisql_s2PtInCircle(ra, decl, 0, 0, 1.5) = 1"),
    ("SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 359.9, 1, 0.7) = 1", None),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_box(358, -2, 2, 2)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInBox(ra, decl, 358, -2, 2, 2) = 1"),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_ellipse(0.2, -0.3, 5400, 3600, 30)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInEllipse(ra, decl, 0.2, -0.3, 5400, 3600, 30) = 1"),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_poly(359, -1, 1, -1, 1, 1, 359, 1)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInCPolyStr(ra, decl, '359,-1,1,-1,1,1,359,1') = 1"),
    # the poles
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_circle(0, 90, 2)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 0, 90, 2) = 1"),
    ("SELECT sourceId, decl FROM Source WHERE qserv_areaspec_circle(123, -89.5, 1.2)",
     "SELECT sourceId, decl FROM Source WHERE scisql_s2PtInCircle(ra, decl, 123, -89.5, 1.2) = 1"),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_box(0, 88, 360, 90)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInBox(ra, decl, 0, 88, 360, 90) = 1"),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_box(350, -90, 10, -88)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInBox(ra, decl, 350, -90, 10, -88) = 1"),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_poly(0, 87, 90, 87, 180, 87, 270, 87)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInCPolyStr(ra, decl, '0,87,90,87,180,87,270,87') = 1"),
    ("SELECT COUNT(*) AS n, SUM(psfFlux) AS f FROM Source WHERE scisql_s2PtInBox(ra, decl, 0, 86, 360, 90) = 1", None),
    # the out-of-range declinations above sit within these regions' formulas
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_circle(180, 89.5, 2)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 180, 89.5, 2) = 1"),
    ("SELECT sourceId FROM Source WHERE scisql_s2PtInEllipse(ra, decl, 190, -89.4, 7200, 3600, 0) = 1", None),
    ("SELECT sourceId FROM Source WHERE qserv_areaspec_poly(0, 87, 120, 87, 240, 87)",
     "SELECT sourceId FROM Source WHERE scisql_s2PtInCPolyStr(ra, decl, '0,87,120,87,240,87') = 1"),
    ("SELECT filterId, COUNT(*) AS n FROM Source WHERE qserv_areaspec_circle(45, -88, 1.5) GROUP BY filterId",
     "SELECT filterId, COUNT(*) AS n FROM Source WHERE scisql_s2PtInCircle(ra, decl, 45, -88, 1.5) = 1 GROUP BY filterId"),
    # a child's own test beside its director: pruned by Source's region with the margin
    ("SELECT s.sourceId, o.objectId FROM Source s JOIN Object o ON o.objectId = s.objectId "
     "WHERE scisql_s2PtInCircle(s.ra, s.decl, 0, 0, 1) = 1", None),
    ("SELECT COUNT(*) AS n FROM Object o JOIN Source s ON o.objectId = s.objectId "
     "WHERE scisql_s2PtInCircle(s.ra, s.decl, 200, 89, 1) = 1", None),
]


@pytest.mark.parametrize("sql, oracle_sql", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
def test_source_regions_same_rows(edge_czar, edge_oracle, sql, oracle_sql):
    expected = query(edge_oracle, oracle_sql or sql)
    assert expected[1], "the region should hold some rows"
    assert_same_result(query(edge_czar, sql), expected, ordered=False)


def test_small_cones_on_sources_outside_their_objects_chunk(edge_czar, edge_oracle, strays):
    """A 2 arcsec cone (and a small box) on a Source that lies in another chunk than its
    Object's: the chunk holding it is found only thanks to the margin (without it, this test
    fails: the farthest Sources lie beyond the chunk look-ups' own slack)."""
    picks = strays[:10] + [strays[i] for i in np.linspace(10, len(strays) - 1, 6).astype(int)]
    for source_id, ra, dec in picks:
        for sql, oracle_sql in (
                (f"SELECT sourceId FROM Source WHERE qserv_areaspec_circle({ra!r}, {dec!r}, 0.0006)",
                 f"SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, {ra!r}, {dec!r}, 0.0006) = 1"),
                (f"SELECT sourceId FROM Source WHERE scisql_s2PtInBox(ra, decl, {ra - 0.001!r}, "
                 f"{max(-90, dec - 0.0005)!r}, {ra + 0.001!r}, {min(90, dec + 0.0005)!r}) = 1", None)):
            expected = query(edge_oracle, oracle_sql or sql)
            assert (source_id,) in expected[1]
            assert_same_result(query(edge_czar, sql), expected, ordered=False)


def test_demo_source_cone_is_pruned_like_objects(czar):
    """The demo catalog (Sources 0.3 arcsec from their Object): a cone on Source alone visits
    about the chunks a cone on Object does, where before it was refused (restrictor) or
    visited every chunk (scisql test)."""
    every = int(dict(query(czar, "EXPLAIN SELECT COUNT(*) FROM Source")[1])["chunks"])
    obj = dict(query(czar, "EXPLAIN SELECT objectId FROM Object WHERE qserv_areaspec_circle(1, 1, 0.5)")[1])
    for sql in ("SELECT sourceId FROM Source WHERE qserv_areaspec_circle(1, 1, 0.5)",
                "SELECT sourceId FROM Source WHERE scisql_s2PtInCircle(ra, decl, 1, 1, 0.5) = 1"):
        src = dict(query(czar, "EXPLAIN " + sql)[1])
        assert int(src["chunks"]) <= int(obj["chunks"]) + 2 and int(src["chunks"]) < every / 5
        assert "on Source.ra/decl widened by" in src["pruned_by"]
