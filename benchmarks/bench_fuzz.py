"""SQL fuzzing against the oracle, at scale: mutated queries of the differential corpus
(tests/differential/fuzz.py: comments and executable comments, session variables, tweaked
numbers and operators, dropped and doubled tokens, extra expressions and statements) through a
3-worker cluster and through one plain MariaDB with the same rows (the demo catalog).

Counts of cases that agree (same rows, or the same error code), that Qserv refused with 1235
(a construct documented as not supported), that are indeterminate (the rows differ where SQL
leaves the answer open: a column neither grouped nor aggregated, confirmed by MariaDB's
ONLY_FULL_GROUP_BY), and that are wrong. Every wrong case is listed in the report.

    python -m benchmarks.bench_fuzz --cases 10000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymysql

from benchmarks.common import cluster_and_baseline, report
from qserv.admin.demo import generate
from tests.differential.fuzz import cases, compare


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--objects", type=int, default=20_000)
    p.add_argument("--jobs", type=int, default=3, help="cases run at once")
    p.add_argument("--base-port", type=int,
                   default=int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 500)
    p.add_argument("--work", default=None)
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-fuzz-"))
    spec = generate(work / "data", n_objects=args.objects)
    with cluster_and_baseline(work, spec, 3, args.base_port) as (config, baseline, _):
        def czar(**kw):
            return pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                                   password=config.password, database="demo", **kw)

        def oracle(**kw):
            return baseline.connect(database="demo", **kw)

        todo = cases(args.cases, args.seed)
        started = time.monotonic()
        with ThreadPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(lambda case: compare(czar, oracle, case), todo))
        seconds = time.monotonic() - started
    counts = collections.Counter(o.verdict for o in outcomes)
    refusals = collections.Counter(o.detail[:90] for o in outcomes if o.verdict == "refused")
    summary = {"cases": len(todo), "seed": args.seed, "agree": counts["agree"],
               "refused": counts["refused"], "indeterminate": counts["indeterminate"],
               "wrong": counts["wrong"], "seconds": round(seconds, 1)}
    rows = [{"verdict": "wrong", "case": c.name, "detail": f"`{c.setup}` `{c.sql[:200]}` → {o.detail[:200]}"}
            for c, o in zip(todo, outcomes) if o.verdict == "wrong"]
    rows += [{"verdict": "refused", "case": f"{n} cases", "detail": reason}
             for reason, n in refusals.most_common()]
    rows = [{k: str(v).replace("|", "\\|").replace("\n", " ") for k, v in r.items()} for r in rows]
    report("bench_fuzz", summary, rows or [{"verdict": "-", "case": "-", "detail": "none"}])


if __name__ == "__main__":
    main()
