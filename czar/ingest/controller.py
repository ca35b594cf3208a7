"""The czar's ingest controller: databases, tables, transactions, contributions, publish,
director index, validation. `czar/http.py` serves it over HTTP (`/ingest/...`).

State lives in the czar's MariaDB (`qservMeta.ingest_*`), so a restarted czar or a restarted
`qserv ingest` knows exactly which transactions were committed, which were left open (to be
aborted) and where every chunk lives. A transaction maps to the partition `p<id>` of every
worker table it wrote (`PARTITION BY LIST (qserv_trans_id)`); aborting it drops that partition
on every worker, so an aborted transaction leaves no row anywhere. Nothing of a database is
visible to queries before `publish`, which flips one flag (the czar's catalog cache hides
unpublished databases).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

import grpc
import pymysql

from czar.ingest.contributions import Contributions
from czar.ingest.databases import Databases
from czar.ingest.director_index import DirectorIndex
from czar.ingest.publish import Publishing
from czar.ingest.stats import TableStatistics
from czar.ingest.schema import FAILED, IN_PROGRESS, SCHEMA, Inflight
from czar.ingest.transactions import Transactions
from czar.ingest.validate import Validation
from qserv.catalog import DatabaseSpec
from qserv.config import ClusterConfig
from qserv.grpc_auth import aio_channel
from qserv.mariadb import MariaDBServer
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.workers import RECONNECT_OPTIONS, message_options


class IngestController(Databases, Transactions, Contributions, DirectorIndex, Publishing, Validation,
                       TableStatistics):
    """The controller: its plumbing here (the czar's MariaDB, worker stubs, start and close);
    each concern in its own module, composed by inheritance."""

    def __init__(self, config: ClusterConfig):
        self.config = config
        self.czar_db = MariaDBServer.for_czar(config)
        self._conn: pymysql.connections.Connection | None = None
        self._lock = threading.Lock()
        self._alloc_lock = asyncio.Lock()
        self._stubs: dict[str, pb_grpc.WorkerStub] = {}
        self._channel_of: dict[str, grpc.aio.Channel] = {}
        self._specs: dict[str, tuple[str, DatabaseSpec]] = {}   # db -> (its JSON, parsed)
        self.closing: set[int] = set()                  # transactions being committed/aborted
        self.inflight: dict[int, Inflight] = defaultdict(Inflight)

    def _connection(self) -> pymysql.connections.Connection:
        if self._conn is None or not self._conn.open:
            self._conn = self.czar_db.connect()
        return self._conn

    def _run(self, fn, *args):
        with self._lock:
            conn = self._connection()
            try:
                conn.ping(reconnect=True)
            except pymysql.MySQLError:
                self._conn = conn = self.czar_db.connect()
            return fn(MetadataStore(conn), *args)

    async def meta(self, fn, *args):
        """Run `fn(MetadataStore, *args)` on the czar's MariaDB, in a thread, one at a time."""
        return await asyncio.to_thread(self._run, fn, *args)

    async def meta_apart(self, fn, *args):
        """`fn(MetadataStore, *args)` on a connection of its own, in a thread: for long
        statements (director-index loads and builds) that must not hold up the load's
        contributions and commits behind the shared connection's lock."""
        def run():
            conn = self.czar_db.connect()
            try:
                return fn(MetadataStore(conn), *args)
            finally:
                conn.close()
        return await asyncio.to_thread(run)

    async def sql(self, sql: str, args=None):
        return await self.meta(lambda m: m.execute(sql, args))

    def stub(self, worker: str) -> pb_grpc.WorkerStub:
        if worker not in self._stubs:
            channel = aio_channel(self.config.worker(worker).grpc_address(),
                                  self.config.grpc_token,
                                  options=message_options(self.config.grpc_max_message_bytes)
                                  + RECONNECT_OPTIONS)
            self._channel_of[worker] = channel
            self._stubs[worker] = pb_grpc.WorkerStub(channel)
        return self._stubs[worker]

    async def reachable(self, worker: str, seconds: float = 1.5) -> None:
        """Give a worker's channel up to `seconds` to connect (its reconnect back-off is at most
        1 s). A call on a channel between reconnect attempts (a worker restarted moments ago)
        fails at once with UNAVAILABLE instead of waiting for the attempt."""
        self.stub(worker)
        try:
            await asyncio.wait_for(self._channel_of[worker].channel_ready(), seconds)
        except asyncio.TimeoutError:
            pass        # the call itself then reports the worker as unreachable

    async def start(self) -> None:
        def init(m: MetadataStore):
            m.initialize()
            for stmt in SCHEMA:
                m.execute(stmt)
            # Contributions that were running when a previous czar stopped never finished.
            m.execute(f"UPDATE {META_DB}.ingest_contrib SET status = %s, end_time = %s, "
                      "error = 'the czar stopped during the contribution' WHERE status = %s",
                      (FAILED, time.time(), IN_PROGRESS))
        await self.meta(init)

    async def close(self) -> None:
        for channel in self._channel_of.values():
            await channel.close()
        if self._conn is not None:
            self._conn.close()
