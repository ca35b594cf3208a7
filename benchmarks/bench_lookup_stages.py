"""Where a point look-up's time goes, stage by stage, on a running cluster.

Starts a second czar in this process (same cluster, its own MySQL port) whose stages are
wrapped with timers, sends `SELECT * FROM Object WHERE objectId = <id>` look-ups to it, and
times the worker round trip directly over gRPC (with and without the few-rows path, and a
Health call as the floor of one gRPC round trip). Prints the JSON line and writes the table to
benchmarks/results/bench_lookup_stages.md.

    python -m benchmarks.bench_lookup_stages --cluster DIR [--port 29410] [--lookups 500]

Stage times are medians over the look-ups after the first 20; "hit" stages run once the plan
cache knows the shape, "miss" stages (shadow check, analysis, ...) only for the first few.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import statistics
import time

import pymysql

import czar.dispatch as dispatch
import czar.engine as engine
import czar.frontend as frontend
from benchmarks.common import report
from czar.login import QservIdentityProvider, users_of
from qserv.catalog import CHUNK_MARKER
from qserv.config import ClusterConfig
from qserv.metadata import director_index_table
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.grpc_auth import aio_channel
from qserv.workers import CHANNEL_OPTIONS

TIMES: dict[str, list[float]] = collections.defaultdict(list)
STAGES = [  # (object, method, label)
    (frontend.QservSession, "handle_query", "czar: whole statement (handle_query)"),
    (frontend.QservSession, "_check_on_shadow", "miss: shadow check"),
    (engine.QueryEngine, "refresh_catalog", "miss: catalog version"),
    (engine.QueryEngine, "index_chunks", "miss: director index"),
    (engine.QueryEngine, "plan", "miss: plan total (refresh, passes, index, build)"),
    (engine.QueryEngine, "plan_from_cache", "hit: cached plan (version + index, 1 round trip)"),
    (dispatch.Dispatcher, "stream", "dispatch: gRPC to first batch"),
]


def _timed(obj, name: str, label: str) -> None:
    original = getattr(obj, name)

    @functools.wraps(original)
    async def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            TIMES[label].append(time.perf_counter() - t)
    setattr(obj, name, wrapper)


def _median_ms(values: list[float], skip: int = 20) -> tuple[float, int]:
    kept = values[skip:] if len(values) > skip * 2 else values
    return round(statistics.median(kept) * 1e3, 3), len(values)


async def _serve_and_query(config: ClusterConfig, port: int, sqls: list[str]) -> list[float]:
    for obj, name, label in STAGES:
        _timed(obj, name, label)
    eng = await engine.QueryEngine.connect(config)
    server = await frontend.start_frontend(eng, config.host, port,
                                           QservIdentityProvider(users_of(config)))

    def client() -> list[float]:
        conn = pymysql.connect(host=config.host, port=port, user=config.user,
                               password=config.password, database="demo")
        times = []
        for sql in sqls:
            t = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(sql)
                cur.fetchall()
            times.append(time.perf_counter() - t)
        conn.close()
        return times
    try:
        return await asyncio.to_thread(client)
    finally:
        server.close()
        await eng.close()


async def _worker_round_trips(config: ClusterConfig, ids: list[int]) -> dict[str, list[float]]:
    """The same look-ups sent straight to the workers that hold them."""
    meta = engine.MariaDBServer.for_czar(config).connect()
    with meta.cursor() as cur:
        cur.execute(f"SELECT objectId, chunkId FROM {director_index_table('demo', 'Object')} "
                    f"WHERE objectId IN ({', '.join(map(str, ids))})")
        chunk_of = dict(cur.fetchall())
        cur.execute("SELECT chunk_id, worker FROM qservMeta.chunks WHERE db = 'demo'")
        worker_of = dict(cur.fetchall())
    meta.close()
    stubs = {w.name: pb_grpc.WorkerStub(aio_channel(w.grpc_address(), config.grpc_token,
                                                    CHANNEL_OPTIONS))
             for w in config.workers}
    out: dict[str, list[float]] = collections.defaultdict(list)
    for oid in ids:
        if oid not in chunk_of:
            continue
        stub = stubs[worker_of[chunk_of[oid]]]
        t = time.perf_counter()
        await stub.Health(pb.HealthRequest())
        out["worker: gRPC Health (unary floor)"].append(time.perf_counter() - t)
        for few, label in ((True, "worker: RunChunkQuery, few-rows path"),
                           (False, "worker: RunChunkQuery, OUTFILE path")):
            request = pb.ChunkQueryRequest(
                query_id="bench", database="demo", chunk_marker=CHUNK_MARKER,
                chunk_ids=[chunk_of[oid]], few_rows=few,
                sql_template=f"SELECT * FROM `demo`.`Object_{CHUNK_MARKER}` AS `Object` "
                             f"WHERE `Object`.`objectId` = {oid}")
            t = time.perf_counter()
            async for _ in stub.RunChunkQuery(request):
                pass
            out[label].append(time.perf_counter() - t)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cluster", required=True, help="dir of a running cluster holding `demo`")
    p.add_argument("--port", type=int, default=29410, help="MySQL port of the timed czar")
    p.add_argument("--lookups", type=int, default=500)
    p.add_argument("--objects", type=int, default=1_000_000, help="objects in `demo` (ids 10 n + 3)")
    args = p.parse_args(argv)
    config = ClusterConfig.load(args.cluster)
    import random
    rng = random.Random(11)
    ids = [rng.randint(1, args.objects) * 10 + 3 for _ in range(args.lookups)]
    client = asyncio.run(_serve_and_query(config, args.port,
                                          [f"SELECT * FROM Object WHERE objectId = {i}" for i in ids]))
    worker = asyncio.run(_worker_round_trips(config, ids[:200]))
    rows = [{"stage": "client: whole look-up", "p50_ms": _median_ms(client)[0], "n": len(client)}]
    for label, values in list(TIMES.items()) + list(worker.items()):
        ms, n = _median_ms(values)
        rows.append({"stage": label, "p50_ms": ms, "n": n})
    report("bench_lookup_stages", {r["stage"]: r["p50_ms"] for r in rows}, rows)


if __name__ == "__main__":
    main()
