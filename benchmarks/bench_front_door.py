"""The front door under malformed input, at scale (issue 15, items 4 and 8): mutated login
packets on the MySQL port and malformed JSON bodies on the HTTP API, sent by `--jobs` clients
at once to a 1-worker cluster, with a normal login and query every `--check` cases.

Counts, per kind: cases answered with an error (login: 1043/1045/other code; HTTP: 4xx),
closed without an answer, hung (no answer and not closed within 10 s: must be 0; the
cluster's connect_timeout is 2 s), answered 5xx (must be 0), and failed health checks (must
be 0); cases per second.

    python -m benchmarks.bench_front_door --cases 10000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import report
from qserv.admin.cluster import down, up
from qserv.config import ClusterConfig
from tests.faults.test_http_limits import malformed_bodies, post
from tests.faults.test_login_packets import error_code, exchange, mutations, serves


def login_case(config, payload: bytes) -> str:
    try:
        answer = exchange(config, payload)
    except AssertionError:
        return "hung"
    except OSError:
        return "closed"
    code = error_code(answer)
    if code:
        return f"error {code}"
    if len(answer) > 4 and answer[4] == 0xFE:   # asks the client to switch plugin: it never does
        return "auth switch, closed at connect_timeout"
    return "closed" if not answer else "ok"


def http_case(config, i: int, body: bytes) -> str:
    routes = ["/ingest/chunk", "/ingest/chunks", "/ingest/trans", "/ingest/table",
              "/ingest/database/fuzz_db/validate"]
    token = config.admin_token if i % 2 else None
    try:
        status, _ = post(config, routes[i % len(routes)], body, token=token)
    except OSError:
        return "closed"
    if status is None:
        return "closed"
    return "5xx" if status >= 500 else f"{status // 100}xx"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10_000, help="of each kind")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--check", type=int, default=500)
    p.add_argument("--base-port", type=int,
                   default=int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 780)
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-front-door-")
    config = ClusterConfig.create(work, 1, frontend_port=args.base_port + 90,
                                  base_port=args.base_port, login_max_failures=10 ** 9,
                                  connect_timeout=2.0)
    up(config, echo=lambda *_: None)
    rows, summary = [], {"cases_per_kind": args.cases, "jobs": args.jobs}
    try:
        for kind in ("login", "http"):
            rng = random.Random(args.seed)
            gen = mutations(rng, args.cases) if kind == "login" else malformed_bodies(rng, args.cases)
            cases = list(gen)
            counts, failed_checks = collections.Counter(), 0
            started = time.monotonic()
            with ThreadPoolExecutor(args.jobs) as pool:
                for start in range(0, len(cases), args.check):
                    batch = cases[start:start + args.check]
                    if kind == "login":
                        outcomes = pool.map(lambda c: login_case(config, c), batch)
                    else:
                        outcomes = pool.map(lambda ic: http_case(config, *ic),
                                            enumerate(batch, start))
                    counts.update(outcomes)
                    try:
                        serves(config)
                    except Exception:  # noqa: BLE001 - counted
                        failed_checks += 1
            seconds = time.monotonic() - started
            row = {"kind": kind, "cases": len(cases), "seconds": round(seconds, 1),
                   "cases_per_s": round(len(cases) / seconds, 1),
                   "hung": counts.pop("hung", 0), "5xx": counts.pop("5xx", 0),
                   "failed_health_checks": failed_checks,
                   "outcomes": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))}
            rows.append(row)
            summary[kind] = {k: v for k, v in row.items() if k != "kind"}
    finally:
        down(config, echo=lambda *_: None)
    report("bench_front_door", summary, rows)


if __name__ == "__main__":
    main()
