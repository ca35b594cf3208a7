"""scisql functions on plain MariaDB: stored SQL functions vs the same formulas inline.

One private mariadbd (port 34306 unless --port), a table of N random positions and fluxes,
and for each function the median time of a query that evaluates it on every row, once as a
stored-function call and once as the inline SQL the czar's `scisql` pass writes. Prints one
JSON line; writes benchmarks/results/bench_scisql.md.

    python -m benchmarks.bench_scisql --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import report
from qserv import scisql
from qserv.config import MariaDBSettings
from qserv.mariadb import MariaDBServer

CASES = {
    # name: (stored-function SQL, inline SQL)
    "angSep": ("SELECT SUM(scisql_angSep(ra, decl, 10.0, 5.0)) FROM P",
               "SELECT SUM({}) FROM P".format(scisql.inline("scisql_angSep", ["ra", "decl", "10.0", "5.0"]))),
    "angSep<r (WHERE)": ("SELECT COUNT(*) FROM P WHERE scisql_angSep(ra, decl, 10.0, 5.0) < 1",
                         "SELECT COUNT(*) FROM P WHERE {} < 1".format(
                             scisql.inline("scisql_angSep", ["ra", "decl", "10.0", "5.0"]))),
    "s2PtInCircle": ("SELECT COUNT(*) FROM P WHERE scisql_s2PtInCircle(ra, decl, 10.0, 5.0, 1.0) = 1",
                     "SELECT COUNT(*) FROM P WHERE {}".format(scisql.inline(
                         "scisql_s2PtInCircle", ["ra", "decl", "10.0", "5.0", "1.0"], where_true=True))),
    "s2PtInBox": ("SELECT COUNT(*) FROM P WHERE scisql_s2PtInBox(ra, decl, 350.0, -2.0, 12.0, 3.0) = 1",
                  "SELECT COUNT(*) FROM P WHERE {}".format(scisql.inline(
                      "scisql_s2PtInBox", ["ra", "decl", "350.0", "-2.0", "12.0", "3.0"], where_true=True))),
    "s2PtInEllipse": ("SELECT COUNT(*) FROM P WHERE scisql_s2PtInEllipse(ra, decl, 10.0, 5.0, 7200, 3600, 30) = 1",
                      "SELECT COUNT(*) FROM P WHERE {}".format(scisql.inline(
                          "scisql_s2PtInEllipse", ["ra", "decl", "10.0", "5.0", "7200", "3600", "30"],
                          where_true=True))),
    "s2PtInCPoly": ("SELECT COUNT(*) FROM P WHERE scisql_s2PtInCPolyStr(ra, decl, '9,4,11,4,11,6,9,6') = 1",
                    "SELECT COUNT(*) FROM P WHERE {}".format(scisql.cpoly_inline(
                        "ra", "decl", [(9, 4), (11, 4), (11, 6), (9, 6)], where_true=True))),
    "fluxToAbMag": ("SELECT SUM(scisql_fluxToAbMag(flux)) FROM P",
                    "SELECT SUM({}) FROM P".format(scisql.inline("scisql_fluxToAbMag", ["flux"]))),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=34306)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scisql-") as work:
        server = MariaDBServer(Path(work) / "m", args.port, MariaDBSettings(innodb_buffer_pool_size="256M"))
        server.start(open(Path(work) / "log", "ab"))
        try:
            conn = server.connect()
            cur = conn.cursor()
            cur.execute("CREATE DATABASE b")
            cur.execute("USE b")
            for stmt in scisql.install_statements("b"):
                cur.execute(stmt)
            cur.execute("CREATE TABLE P (ra DOUBLE NOT NULL, decl DOUBLE NOT NULL, flux DOUBLE) ENGINE=MyISAM")
            rng = np.random.default_rng(1)
            ra = rng.uniform(-20, 40, args.rows) % 360
            dec = rng.uniform(-15, 25, args.rows)
            flux = 10 ** rng.uniform(-31, -27, args.rows)
            path = Path(work) / "p.csv"
            np.savetxt(path, np.stack([ra, dec, flux], 1), delimiter=",", fmt="%.17g")
            cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE P FIELDS TERMINATED BY ','")
            rows, summary = [], {"rows": args.rows}
            for name, (stored, inl) in CASES.items():
                out = {}
                for kind, sql in (("stored", stored), ("inline", inl)):
                    times, result = [], None
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        cur.execute(sql)
                        result = cur.fetchall()
                        times.append(time.perf_counter() - t)
                    out[kind] = (sorted(times)[len(times) // 2], result[0][0])
                same = abs(float(out["stored"][1]) - float(out["inline"][1])) <= 1e-9 * max(1.0, abs(float(out["stored"][1])))
                rows.append({"function": name, "stored_s": round(out["stored"][0], 3),
                             "inline_s": round(out["inline"][0], 3),
                             "speedup": round(out["stored"][0] / out["inline"][0], 1), "same_result": same})
                summary[name] = {"stored_s": rows[-1]["stored_s"], "inline_s": rows[-1]["inline_s"],
                                 "same_result": same}
            report("bench_scisql", summary, rows)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
