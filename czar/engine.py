"""One distributed SELECT from text to rows: validate on the shadows, analyse, plan,
dispatch, merge, stream. The frontend (MySQL protocol) and later the HTTP API call this."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import AsyncIterator, Sequence

import asyncmy
from sqlglot import exp

from czar import deadline
from czar.analysis import QueryContext, analyze
from czar.catalog_cache import CatalogCache
from czar.dispatch import Dispatcher, Job, make_jobs
from czar.failover import spread
from czar.leftovers import Leftovers
from czar.merge import ResultTable
from czar.plan_cache import Hit, PlanCache
from czar.shadow_pool import ShadowPool
from czar.plan import QueryPlan, Shape, build_plan
from czar.streaming import FannedIn, OneStream, RowWindow
from qserv.config import ClusterConfig
from qserv.errors import ER_BAD_DB_ERROR, ER_TOO_BIG_RESULT, QservError, not_supported
from qserv.mariadb import MariaDBServer
from qserv.metadata import META_DB, SHADOW_USER, director_index_table

log = logging.getLogger("czar.engine")
FETCH_ROWS = 10_000
MYSQL_TYPE_BIT = 16
FEW_KEYS = 1000  # director-index keys up to which a single-job result counts as few rows
BINARY_CHARSET = 63


@dataclass
class ShadowResult:
    """What MariaDB said about the user's query on the empty shadow tables: the result's
    columns exactly as one MariaDB would name and type them."""

    description: Sequence[tuple]
    binary: Sequence[bool]

    @property
    def names(self) -> list[str]:
        return [d[0] for d in self.description]


@dataclass
class QueryResult:
    columns: Sequence[tuple]                 # cursor description of the merge query
    binary: Sequence[bool]                   # per column: binary charset (BLOB, VARBINARY)
    batches: AsyncIterator[Sequence[tuple]]  # rows, a MariaDB fetch at a time


class QueryEngine:
    def __init__(self, config: ClusterConfig, pool: asyncmy.Pool, raw_pool: asyncmy.Pool, socket: str):
        self.config = config
        self.pool = pool
        # Merge results are read with no type conversion at all (bytes as MariaDB sent them):
        # they go to the client as the same text, without a decode/encode round trip per value.
        self.raw_pool = raw_pool
        self.socket = socket
        self.catalog = CatalogCache()
        self.plans = PlanCache()
        # Spool job rows where the czar's own (co-located) mariadbd may LOAD DATA INFILE them.
        spool = MariaDBServer.for_czar(config).outfile_dir
        spool.mkdir(parents=True, exist_ok=True)
        self.dispatcher = Dispatcher(config, str(spool))
        # the sessions' connections to this MariaDB: one bounded pool for all of them
        self.shadows = ShadowPool(socket, SHADOW_USER, config.shadow_pool_size)
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        # query id -> the lease a merged query holds while its result table and spool files
        # exist (czar/leftovers.py); weak, so a result no one reads frees its entry
        self.leases: weakref.WeakValueDictionary[str, Lease] = weakref.WeakValueDictionary()
        self.leftovers = Leftovers(pool, spool, self._prefix, lambda: set(self.leases.keys()))
        # the query registry and the async queries (czar/registry.py, czar/async_queries.py),
        # set by the czar daemon; None where an engine runs without them
        self.registry = None
        self.queries = None

    @classmethod
    async def connect(cls, config: ClusterConfig) -> "QueryEngine":
        mariadb = MariaDBServer.for_czar(config)
        common = dict(unix_socket=mariadb.socket, user="root", password=mariadb.root_password,
                      autocommit=True, charset="utf8mb4")
        pool = await asyncmy.create_pool(minsize=2, maxsize=32, **common)
        raw_pool = await asyncmy.create_pool(minsize=1, maxsize=32, conv={}, use_unicode=False, **common)
        return cls(config, pool, raw_pool, mariadb.socket)

    async def refresh_catalog(self):
        async with self.pool.acquire() as conn:
            return await self.catalog.refresh(conn)

    def new_query_id(self) -> str:
        return f"{self._prefix}_{next(self._ids)}"

    async def plan(self, select: exp.Select, default_db: str | None, output_names: list[str]) -> QueryPlan:
        view = await self.refresh_catalog()
        ctx = QueryContext(select=select, default_db=default_db, catalog=view, output_names=output_names)
        select = analyze(select, ctx)
        for ref in ctx.tables:
            if ref.db.lower() not in view.published:
                raise QservError(ER_BAD_DB_ERROR, f"Database '{ref.db}' is not published yet "
                                                  "(a load is in progress)")
        for lookup in ctx.index_lookups:
            ctx.restrict_chunks(await self.index_chunks(lookup), lookup.describe())
        chunks = set(view.placement.get(ctx.database.lower(), {}))
        if ctx.chunk_restriction is not None:
            chunks &= ctx.chunk_restriction
        plan = build_plan(select, ctx, sorted(chunks))
        plan.pruned_by = list(ctx.pruned_by)
        plan.few_rows = few_rows(ctx.index_lookups)
        return plan

    async def plan_from_cache(self, hit: Hit) -> QueryPlan | None:
        """The plan of a cached shape for the client's numbers (czar/plan_cache.py), or None
        when the full path must run: the catalog moved since the shape was learned, or a value
        is one the full path would not look up in the director index. The catalog version and
        the director-index chunks come back in one round trip."""
        entry = hit.entry
        lookups = entry.index_lookups(hit.numbers)
        if lookups is None:
            return None
        found = await self._version_and_index_chunks(lookups)
        if found is None:
            return None
        version, chunk_sets = found
        if version != entry.version or version != self.catalog.view.version:
            self.plans.forget(hit)
            return None
        chunks = set(self.catalog.view.placement.get(entry.database.lower(), {}))
        if entry.restriction is not None:
            chunks &= entry.restriction
        for found_chunks in chunk_sets:
            chunks &= found_chunks
        plan = entry.plan(hit.numbers, sorted(chunks))
        plan.pruned_by += [lookup.describe() for lookup in lookups]
        plan.few_rows = few_rows(lookups)
        return plan

    async def _version_and_index_chunks(self, lookups) -> tuple[int, list[set[int]]] | None:
        """(catalog version, chunks of each look-up) in one statement; None when a director
        index is missing (the full path then visits every chunk)."""
        parts, args = [f"(SELECT 0, v FROM {META_DB}.version WHERE id = 1)"], []
        for i, lookup in enumerate(lookups, 1):
            where, values = _index_condition(lookup)
            parts.append(f"(SELECT DISTINCT {i}, chunkId FROM "
                         f"{director_index_table(lookup.database, lookup.director_table)} WHERE {where})")
            args += values
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            try:
                await cur.execute(" UNION ALL ".join(parts), args or None)
            except asyncmy.errors.ProgrammingError:
                return None
            rows = await cur.fetchall()
        version, chunk_sets = 0, [set() for _ in lookups]
        for part, value in rows:
            if part == 0:
                version = value
            else:
                chunk_sets[part - 1].add(value)
        return version, chunk_sets

    async def index_chunks(self, lookup) -> set[int]:
        """Chunks holding the objects a director-index look-up names."""
        table = director_index_table(lookup.database, lookup.director_table)
        where, args = _index_condition(lookup)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            try:
                await cur.execute(f"SELECT DISTINCT chunkId FROM {table} WHERE {where}", args)
            except asyncmy.errors.ProgrammingError:
                return set(self.catalog.view.placement.get(lookup.database.lower(), {}))  # no index
            return {row[0] for row in await cur.fetchall()}

    async def execute(self, plan: QueryPlan, shadow: ShadowResult) -> QueryResult:
        if not (plan.single_job and plan.few_rows) and any(d[1] == MYSQL_TYPE_BIT
                                                            for d in shadow.description):
            # OUTFILE writes BIT values as raw bytes, unescaped: a 0x09 or 0x0A would cut the
            # row. Only the few-rows path (rows fetched over the connection) carries them.
            raise not_supported("BIT values in a result over OUTFILE",
                                "select `col + 0` (the value as a number) instead")
        match plan.shape:
            case Shape.EMPTY:
                return await self._execute_empty(plan, shadow)
            case Shape.SINGLE_JOB:
                return await self._execute_direct(plan, shadow)
            case Shape.STREAMED:
                return await self._execute_streamed(plan, shadow)
            case Shape.MERGED | Shape.NEAR_NEIGHBOUR:
                return await self._execute_merged(plan)
        raise AssertionError(f"no runner for the plan shape {plan.shape}")

    async def _execute_streamed(self, plan: QueryPlan, shadow: ShadowResult) -> QueryResult:
        """No merge needed (a filter/projection): every job runs the user's query over its
        chunks, and the rows of all jobs go to the client as they arrive (czar/streaming.py).
        The czar's MariaDB is not involved at all."""
        placement = self.catalog.view.placement.get(plan.database.lower(), {})
        jobs = make_jobs(plan.chunks, placement, self.config.chunks_per_job)
        ncols = len(shadow.description)
        streams = FannedIn(self.dispatcher, self.new_query_id(), plan.database,
                           plan.direct_template, jobs, ncols, session_sql=plan.session_sql)
        await streams.first_ready()
        return QueryResult(columns=shadow.description, binary=shadow.binary,
                           batches=self._rows_of(streams, plan.row_window))

    async def _rows_of(self, batches, window: tuple[int, int | None] | None = None):
        """Row batches (czar/streaming.py) within the result-size limit; the source is closed
        at the end. Batches are ready-made row packets where the text allows it
        (czar/wire_rows.py), lists of values otherwise. A LIMIT's window (skip, count) is kept
        here: once it is full, the source is closed and the jobs still running are cancelled."""
        rows, window = 0, RowWindow(*(window or ()))
        try:
            if window.full:
                return
            async for batch in batches:
                batch = window.cut(batch)
                rows += len(batch)
                if rows > self.config.max_result_rows:
                    raise QservError(ER_TOO_BIG_RESULT, f"the result has more than "
                                     f"{self.config.max_result_rows} rows; add a restriction")
                if batch:
                    yield batch
                if window.full:
                    return
        finally:
            await batches.aclose()

    async def _execute_direct(self, plan: QueryPlan, shadow: ShadowResult) -> QueryResult:
        """Fast path: one job answers the whole query, so its rows stream straight from the
        worker to the client (no result table, no merge query)."""
        query_id = self.new_query_id()
        if plan.partitioned:
            placement = self.catalog.view.placement.get(plan.database.lower(), {})
            job = Job(plan.chunks, spread(plan.chunks[0], placement[plan.chunks[0]]))
        else:
            job = Job([], self.dispatcher.workers_in_turn())
        pieces = await self.dispatcher.stream(query_id, plan.database, plan.direct_template, job,
                                              few_rows=plan.few_rows, session_sql=plan.session_sql)
        return QueryResult(columns=shadow.description, binary=shadow.binary,
                           batches=self._rows_of(OneStream(pieces, len(shadow.description)),
                                                 plan.row_window))

    async def _execute_empty(self, plan: QueryPlan, shadow: ShadowResult) -> QueryResult:
        """No chunk can hold a row of the answer: the user's query over the czar's empty
        shadow tables is the answer (an aggregate's one row, or none), at once: no jobs, no
        result table, no merge."""
        conn = await self.raw_pool.acquire()
        try:
            async with conn.cursor() as cur:
                if plan.session_sql:
                    await cur.execute(plan.session_sql)
                await cur.execute(deadline.limited(plan.empty_sql))
                rows = list(await cur.fetchall())
        finally:
            self._release(conn, plan.session_sql)

        async def batches():
            if rows:
                yield rows
        return QueryResult(columns=shadow.description, binary=shadow.binary, batches=batches())

    async def _execute_merged(self, plan: QueryPlan) -> QueryResult:
        query_id = self.new_query_id()
        started = time.monotonic()
        view = self.catalog.view
        lease = self.leases[query_id] = Lease()
        result = ResultTable(self.pool, query_id, self.config.max_result_rows, plan.session_sql)
        try:
            await result.create(plan.shadow_sql)
        except BaseException:
            self._end_lease(query_id)
            raise
        try:
            if plan.partitioned:
                placement = view.placement.get(plan.database.lower(), {})
                jobs = make_jobs(plan.chunks, placement, self.config.chunks_per_job)
            else:  # replicated tables only: every worker has them, any can answer
                jobs = [Job([], self.dispatcher.workers_in_turn())]
            await self.dispatcher.run(query_id, plan.database, plan.chunk_template, jobs, result.load,
                                      session_sql=plan.session_sql)
            log.info("query %s: %d chunks in %d jobs dispatched in %.3f s", query_id,
                     len(plan.chunks), len(jobs), time.monotonic() - started)
            conn = await self.raw_pool.acquire()
        except BaseException:
            await result.drop()
            self._end_lease(query_id)
            raise
        cur = conn.cursor(asyncmy.cursors.SSCursor)
        try:
            if plan.session_sql:  # the client's settings: this connection is not reused
                await cur.execute(plan.session_sql)
            await cur.execute(deadline.limited(plan.merge_for(result.name)))
        except BaseException:
            await cur.close()
            self._release(conn, plan.session_sql)
            await result.drop()
            self._end_lease(query_id)
            raise

        async def batches():
            try:
                while True:
                    batch = await cur.fetchmany(FETCH_ROWS)
                    if not batch:
                        break
                    yield batch
            finally:
                await cur.close()
                self._release(conn, plan.session_sql)
                await result.drop()
                self._end_lease(query_id, lease)
                log.info("query %s done in %.3f s", query_id, time.monotonic() - started)

        binary = [f.charsetnr == BINARY_CHARSET for f in cur._result.fields]
        return QueryResult(columns=cur.description, binary=binary, batches=batches())

    def _end_lease(self, query_id: str, lease: "Lease | None" = None) -> None:
        """The query's table and files are gone: the sweeper may forget it. (The result's
        reader passes its `lease`: naming it there keeps it alive as long as the reader.)"""
        if self.leases.get(query_id) is lease or lease is None:
            self.leases.pop(query_id, None)

    def _release(self, conn, session_sql: str) -> None:
        """Back to the pool, unless it carries a client's session settings (then closed)."""
        if session_sql:
            conn.close()
        self.raw_pool.release(conn)

    async def close(self):
        self.shadows.close()
        await self.dispatcher.close()
        for pool in (self.pool, self.raw_pool):
            pool.close()
            await pool.wait_closed()


class Lease:
    """Held by a running merged query (see QueryEngine.leases)."""
    __slots__ = ("__weakref__",)


def few_rows(lookups) -> bool:
    """A look-up of listed keys names at most their rows (and their children's): few."""
    return any(lookup.values is not None and len(lookup.values) <= FEW_KEYS for lookup in lookups)


def _index_condition(lookup) -> tuple[str, list[int]]:
    """WHERE text and arguments selecting a look-up's objects in a director index table."""
    if lookup.values is not None:
        return f"objectId IN ({', '.join(['%s'] * len(lookup.values))})", list(lookup.values)
    return "objectId BETWEEN %s AND %s", list(lookup.between)

