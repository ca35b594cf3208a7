"""Running one query and judging its answer: wall time of fetching every row, the rows in a
canonical order (sorted; Decimals as floats), their size as text, and a comparison that
allows float aggregates to differ in the last digits (sums add in a different order)."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

import pymysql


@dataclass
class Answer:
    seconds: float
    rows: list
    nbytes: int
    error: str = ""


def connect(port: int, user: str, password: str, db: str, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, database=db,
                           connect_timeout=30, read_timeout=3600, **kw)


def fetch(conn, sql: str) -> Answer:
    t = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
    except pymysql.MySQLError as e:
        return Answer(time.perf_counter() - t, [], 0, f"{e.args[0] if e.args else ''} {e}")
    seconds = time.perf_counter() - t
    return Answer(seconds, list(rows), sum(len(str(v)) for r in rows for v in r))


def canonical(rows) -> list[tuple]:
    out = [tuple(float(v) if isinstance(v, Decimal) else v for v in r) for r in rows]
    return sorted(out, key=lambda r: tuple((v is None, str(type(v)), v if v is not None else 0)
                                           for v in r))


def same(a, b) -> bool:
    a, b = canonical(a), canonical(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            if u == v:
                continue
            if isinstance(u, (int, float)) and isinstance(v, (int, float)) and \
                    math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9):
                continue
            return False
    return True


def stats(seconds: list[float]) -> dict:
    """min / median / p95 / p99 in milliseconds."""
    if not seconds:
        return {"n": 0}
    s = sorted(seconds)

    def pct(p):
        return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]
    return {"n": len(s), "min_ms": round(1000 * s[0], 2),
            "median_ms": round(1000 * statistics.median(s), 2),
            "p95_ms": round(1000 * pct(0.95), 2), "p99_ms": round(1000 * pct(0.99), 2),
            "max_ms": round(1000 * s[-1], 2)}


def explain_chunks(conn, sql: str) -> int:
    """How many chunks the czar's plan touches (EXPLAIN's `chunks` row)."""
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + sql)
        for item, value in cur.fetchall():
            if item == "chunks":
                return int(str(value).split()[0])
    return 0
