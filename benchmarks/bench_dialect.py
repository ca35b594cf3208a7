"""Issue 6 benchmark (4 workers, 1M Objects, chunk_order 7), side by side with one MariaDB:

- point look-up by objectId through port 4040 (p50; target <= 10 ms), vs the same primary-key
  look-up on the single MariaDB;
- cone search of radius 0.1 deg (p50; target <= 50 ms);
- near-neighbour self-join within 2 arcsec over a 10 deg^2 region (target: >= 50x faster than
  the same SQL on one MariaDB). The single MariaDB runs the quadratic self-join; it is timed on
  a smaller region and scaled by the pair count (area^2) when the full region would be too slow.

    python -m benchmarks.bench_dialect --objects 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import cluster_and_baseline, czar_connection, report
from qserv.admin.demo import generate

NN_RADIUS = 2 / 3600


def p50(conn, sqls: list[str]) -> tuple[float, int]:
    times, rows = [], 0
    for sql in sqls:
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
            rows += len(cur.fetchall())
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def nn_sql(ra0: float, dec0: float, side: float, restricted: bool) -> str:
    """Pairs within NN_RADIUS among Objects of a side x side degree box (ra0, dec0 corner)."""
    box = (f"o1.ra BETWEEN {ra0} AND {ra0 + side} AND o1.decl BETWEEN {dec0} AND {dec0 + side}")
    where = f"qserv_areaspec_box({ra0}, {dec0}, {ra0 + side}, {dec0 + side}) AND " if restricted else ""
    return (f"SELECT COUNT(*) FROM Object o1, Object o2 WHERE {where}{box} AND "
            f"o2.ra BETWEEN {ra0} AND {ra0 + side} AND o2.decl BETWEEN {dec0} AND {dec0 + side} AND "
            f"scisql_angSep(o1.ra, o1.decl, o2.ra, o2.decl) < {NN_RADIUS} AND o1.objectId <> o2.objectId")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--chunk-order", type=int, default=7)
    p.add_argument("--lookups", type=int, default=200)
    p.add_argument("--cones", type=int, default=50)
    p.add_argument("--single-nn-side", type=float, default=1.0,
                   help="side (deg) of the region the single MariaDB self-join is timed on")
    p.add_argument("--base-port", type=int, default=31306)
    p.add_argument("--work", default=None)
    args = p.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="qserv-bench6-"))
    spec_path = generate(work / "data", n_objects=args.objects, sources_per_object=0,
                         chunk_order=args.chunk_order)
    rng = np.random.default_rng(7)
    ids = (rng.integers(1, args.objects + 1, args.lookups) * 10 + 3).tolist()
    lookups = [f"SELECT * FROM Object WHERE objectId = {i}" for i in ids]
    centres = [(float(rng.uniform(-18, 18)) % 360, float(rng.uniform(-13, 13))) for _ in range(args.cones)]
    cones = [f"SELECT objectId, ra, decl, gMag FROM Object WHERE qserv_areaspec_circle({ra}, {dec}, 0.1)"
             for ra, dec in centres]
    cones_single = [f"SELECT objectId, ra, decl, gMag FROM Object WHERE scisql_s2PtInCircle(ra, decl, {ra}, {dec}, 0.1) = 1"
                    for ra, dec in centres]
    rows, summary = [], {"objects": args.objects, "workers": args.workers, "chunk_order": args.chunk_order}
    with cluster_and_baseline(work, spec_path, args.workers, args.base_port) as (config, baseline, _):
        czar = czar_connection(config, "demo")
        single = baseline.connect(database="demo")
        t_single, _ = p50(single, lookups)
        t_czar, n = p50(czar, lookups)
        load_1m = os.getloadavg()[0]  # the figures depend on what else the machine runs
        assert n == len(lookups), "every look-up finds its object"
        rows.append({"query": "point look-up (p50)", "single_ms": round(t_single * 1e3, 3),
                     "czar_ms": round(t_czar * 1e3, 2), "ratio": round(t_czar / t_single, 1)})
        summary.update(lookup_p50_ms=round(t_czar * 1e3, 2), lookup_single_p50_ms=round(t_single * 1e3, 3),
                       lookup_ratio=round(t_czar / t_single, 1), load_avg_1m_at_lookups=round(load_1m, 2))

        t_single, n_single = p50(single, cones_single)
        t_czar, n_czar = p50(czar, cones)
        assert n_single == n_czar, f"cone rows {n_czar} != {n_single}"
        rows.append({"query": "cone 0.1 deg (p50)", "single_ms": round(t_single * 1e3, 2),
                     "czar_ms": round(t_czar * 1e3, 2), "ratio": round(t_czar / t_single, 2)})
        summary.update(cone_p50_ms=round(t_czar * 1e3, 2), cone_single_p50_ms=round(t_single * 1e3, 2))

        side = 10 ** 0.5  # 10 deg^2
        t = time.perf_counter()
        with czar.cursor() as cur:
            cur.execute(nn_sql(0.0, 0.0, side, restricted=True))
            pairs = cur.fetchone()[0]
        t_nn = time.perf_counter() - t
        s = args.single_nn_side
        t = time.perf_counter()
        with single.cursor() as cur:
            cur.execute(nn_sql(0.0, 0.0, s, restricted=False))
            pairs_small = cur.fetchone()[0]
        t_small = time.perf_counter() - t
        t_single_full = t_small * (side * side / (s * s)) ** 2  # pair count grows as area^2
        with czar.cursor() as cur:
            cur.execute(nn_sql(0.0, 0.0, s, restricted=True))
            assert cur.fetchone()[0] == pairs_small, "same pairs as one MariaDB on the small region"
        rows.append({"query": "near-neighbour 2\" in 10 deg^2", "single_ms": round(t_single_full * 1e3),
                     "czar_ms": round(t_nn * 1e3, 1), "ratio": round(t_nn / t_single_full, 4)})
        summary.update(nn_czar_s=round(t_nn, 3), nn_pairs=pairs, nn_single_small_s=round(t_small, 2),
                       nn_single_small_side_deg=s, nn_single_extrapolated_s=round(t_single_full, 1),
                       nn_speedup=round(t_single_full / t_nn, 1))
    report("bench_dialect", summary, rows)


if __name__ == "__main__":
    main()
