"""The worker's gRPC service (qserv.v1.Worker), on grpc.aio."""

from __future__ import annotations

import argparse
import asyncio
import logging

import grpc

from qserv.config import ClusterConfig
from qserv.grpc_auth import TokenCheck
from qserv.mariadb import READER_USER, MariaDBServer
from qserv.signals import until_stopped
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.workers import message_options
from worker.bundle import BundleLimits
from worker.executor import ChunkQueryError, Executor
from worker.ingest import IngestService
from worker.leftovers import sweep_at_start, sweep_periodically
from worker.register import keep_registered
from worker.table_cache import IngestTableCache

log = logging.getLogger("worker")
# The czar pings its channels every few seconds (czar/dispatch.py KEEPALIVE_OPTIONS) to find
# a worker that stopped answering; the server must not take those pings for abuse (by default
# it answers pings more often than every 5 minutes without data with GOAWAY).
KEEPALIVE_SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]


def time_limit(context, cap: float) -> float | None:
    """Seconds a chunk statement may run: what is left of the call's deadline (the czar's
    statement time, czar/deadline.py), at most the cluster's max_statement_time; None: none."""
    left = context.time_remaining()
    if left is not None and left <= 0:
        return 0.001   # the deadline passed while the call waited: the statement ends at once
    limits = [x for x in (left, cap or None) if x is not None and x > 0]
    return min(limits) if limits else None


class WorkerService(pb_grpc.WorkerServicer):
    def __init__(self, name: str, mariadb: MariaDBServer, max_statement_time: float = 0.0,
                 config: ClusterConfig | None = None):
        """`config`: the cluster's, for its tuning (sizes and counts); its defaults without."""
        tuning = config or ClusterConfig(dir="")
        self.name = name
        self.max_statement_time = max_statement_time
        self.mariadb = mariadb
        if not mariadb.reader_password:
            raise ValueError("no mariadb_reader_password in the cluster config: run `qserv up`")
        self.executor = Executor(mariadb.client_args(), mariadb.outfile_dir,
                                 max_parallel=tuning.worker_query_slots,
                                 root_password=mariadb.root_password,
                                 reader=(READER_USER, mariadb.reader_password),
                                 union_bytes=tuning.union_statement_bytes,
                                 read_size=tuning.result_batch_bytes)
        self.ingest = IngestService(mariadb.client_args(), mariadb.outfile_dir, mariadb.root_password,
                                    BundleLimits.of(tuning))
        self.table_cache = IngestTableCache(self.ingest.pool_factory,
                                            normal=tuning.mariadb.table_open_cache,
                                            during_ingest=tuning.ingest_table_open_cache)

    async def RunChunkQuery(self, request, context):
        chunks = list(request.chunk_ids)
        try:
            async for piece in self.executor.run(request.query_id, request.database,
                                                 request.sql_template, request.chunk_marker,
                                                 chunks, few_rows=request.few_rows,
                                                 session_sql=request.session_sql,
                                                 time_limit=time_limit(context,
                                                                       self.max_statement_time),
                                                 scan=request.plan_class == pb.SCAN,
                                                 arg_marker=request.arg_marker,
                                                 chunk_args=list(request.chunk_args)):
                # few rows come as one piece: rows and the count in one message
                yield pb.ResultBatch(tsv=piece, chunks_done=len(chunks) if request.few_rows else 0)
        except ChunkQueryError as e:
            # The code travels in the details so the czar can hand MariaDB's code to the client.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{e.code}:{e.message}")
        if not request.few_rows:
            yield pb.ResultBatch(chunks_done=len(chunks))

    async def CancelQuery(self, request, context):
        return pb.CancelReply(killed=await self.executor.cancel(request.query_id))

    async def Health(self, request, context):
        try:
            pool = await self.executor.pool()
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 1")
            ok, error = True, ""
        except Exception as e:
            ok, error = False, str(e)
        return pb.HealthReply(worker_id=self.name, mariadb_ok=ok, error=error,
                              running_jobs=sum(len(v) for v in self.executor.running.values()))

    async def ExecuteDdl(self, request, context):
        pool = await self.executor.pool()
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                if request.database:
                    await cur.execute(f"USE `{request.database}`")
                for stmt in request.statements:
                    await cur.execute(stmt)
        self.executor.forget_query_pools()
        return pb.DdlReply()

    # Transactional ingest: see worker/ingest.py.
    async def LoadContribution(self, request_iterator, context):
        async with self.table_cache.ingesting():
            return await self.ingest.LoadContribution(request_iterator, context)

    async def LoadBundle(self, request_iterator, context):
        async with self.table_cache.ingesting():
            return await self.ingest.LoadBundle(request_iterator, context)

    async def AbortTransaction(self, request, context):
        async with self.table_cache.ingesting():
            return await self.ingest.AbortTransaction(request, context)

    async def TableCounts(self, request, context):
        async with self.table_cache.ingesting():
            return await self.ingest.TableCounts(request, context)


async def serve(config: ClusterConfig, name: str) -> None:
    wcfg = config.worker(name)
    mariadb = MariaDBServer.for_worker(config, name)
    service = WorkerService(name, mariadb, config.max_statement_time, config)
    # before serving: what the daemon before this one left (killed statements, files)
    await sweep_at_start(service.executor.pool, mariadb.outfile_dir, READER_USER)
    sweeper = asyncio.create_task(sweep_periodically(
        mariadb.outfile_dir, lambda: set(service.executor.outfiles), config.cleanup_interval_s))
    server = grpc.aio.server(interceptors=[TokenCheck(config.grpc_token)], 
                                 options=message_options(config.grpc_max_message_bytes)
                                 + KEEPALIVE_SERVER_OPTIONS)
    pb_grpc.add_WorkerServicer_to_server(service, server)
    server.add_insecure_port(f"{config.listen_host(wcfg.host)}:{wcfg.grpc_port}")
    await server.start()
    await service.table_cache.reset()   # a killed predecessor may have left it lowered
    log.info("worker %s serving on %s", name, wcfg.grpc_address())

    async def health():
        reply = await service.Health(None, None)
        return reply.mariadb_ok, reply.error
    registering = (asyncio.create_task(keep_registered(config, name, health))
                   if config.register_interval_s > 0 else None)
    await until_stopped()
    sweeper.cancel()
    if registering is not None:
        registering.cancel()
    await server.stop(grace=2)
    await service.executor.close()
    await service.table_cache.close()
    await service.ingest.close()


class _IfNotExistsNotes(logging.Filter):
    """MariaDB answers `CREATE ... IF NOT EXISTS` of an existing database or table with a note
    (1007, 1050) that asyncmy logs as a warning: every ingest would log one per table and
    contribution. Those are expected; every other warning still reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.endswith("already exists") or message.endswith("database exists"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m worker",
                                     description="Qserv worker daemon (gRPC, own MariaDB).")
    parser.add_argument("--config", required=True, help="cluster dir or its qserv.json")
    parser.add_argument("--name", required=True, help="worker name in the config, e.g. worker0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {args.name} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncmy").addFilter(_IfNotExistsNotes())
    config = ClusterConfig.load(args.config)
    asyncio.run(serve(config, args.name))
