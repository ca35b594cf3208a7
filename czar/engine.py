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
from czar.chunk_keys import chunk_lists, place_marker, split_lookup, without_marker
from czar.dispatch import Dispatcher, Job, make_jobs
from czar.failover import spread
from czar.leftovers import Leftovers
from czar.merge import ResultTable
from czar.plan_cache import Hit, PlanCache
from czar.shadow_pool import ShadowPool
from czar.plan import QueryPlan, Shape, build_plan
from czar.plan_derived import pushable, pushed_plan
from czar.dialect import render
from czar.plan_correlated import NotColocated, fill, refers_out, set_aside
from czar.plan_derived_join import fill_derived, set_aside_derived
from czar.plan_on_czar import table_sources
from czar.plan_phases import (check_materializable, check_uncorrelated, czar_sources, default_names, find_phases,
                              has_derived_tables, place_table, prepare, query_names, substitute)
from czar.streaming import FannedIn, OneStream, RowWindow
from qserv.config import ClusterConfig
from qserv.errors import ER_BAD_DB_ERROR, ER_NOT_SUPPORTED_YET, ER_TOO_BIG_RESULT, QservError, not_supported
from qserv.mariadb import MariaDBServer
from qserv.metadata import META_DB, RESULT_DB, SHADOW_USER, director_index_table

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

    async def plan(self, select: exp.Select, default_db: str | None, output_names: list[str],
                   merged: bool = False) -> QueryPlan:
        """The plan of a SELECT; `merged`: its rows are wanted in a czar table (a sub-query)."""
        view = await self.refresh_catalog()
        phases = find_phases(select) if isinstance(select, exp.Select) else []
        correlated = [p for p in phases if refers_out(p.select, view, default_db)]
        phases = [p for p in phases if not any(p is c for c in correlated)]
        if phases:  # the correlated ones stay in the outer query, planned with it
            return await self._phase_plan(select, phases, default_db, output_names, merged)
        sources = czar_sources(select)
        if sources is not None:
            pushed = await self._pushed_plan(select, default_db, output_names, merged)
            if pushed is not None:
                return pushed
            return await self._czar_plan(select, sources, default_db, output_names, merged)
        if correlated or has_derived_tables(select):
            return await self._colocated_plan(select, correlated, default_db, output_names, merged)
        return await self._single_plan(select, default_db, output_names, merged)

    async def _pushed_plan(self, select, default_db, output_names, merged: bool) -> QueryPlan | None:
        """An aggregate over a derived table complete per chunk, run in the chunks
        (czar/plan_derived.py); None: not such a query."""
        view = self.catalog.view
        found = pushable(select, view, default_db, output_names)
        if found is None:
            return None
        inner, derived = found
        names = query_names(inner)
        inner_plan = await self._single_plan(inner, default_db, names, merged=True)
        return pushed_plan(select, derived, inner_plan, view, default_db, output_names, names, merged)

    async def _colocated_plan(self, select: exp.Select, correlated, default_db, output_names,
                              merged: bool) -> QueryPlan:
        """Derived tables joined with tables (czar/plan_derived_join.py) and correlated sub-queries
        (czar/plan_correlated.py) inside the chunk queries where their rows live in the outer
        row's chunk, else the query on the czar over its tables (czar/plan_on_czar.py)."""
        original = select.copy()
        view, derived, taken = self.catalog.view, [], []
        reason = "derived tables joined with tables"
        try:
            if has_derived_tables(select):
                view, derived = set_aside_derived(select, view, default_db)
            reason = "a correlated sub-query"
            if correlated:
                taken = set_aside(select, correlated, view, default_db)
            return await self._single_plan(select, default_db, output_names, merged, view=view,
                                           colocated=taken, derived=derived)
        except NotColocated as why:
            if derived and reason.startswith("a correlated"):
                reason = "derived tables joined with tables, and a correlated sub-query"
            return await self._table_plan(original, f"{reason} ({why})", default_db,
                                          output_names, merged)
        except QservError as e:
            if not derived or e.code != ER_NOT_SUPPORTED_YET:
                raise
            # the outer query cannot run per chunk with its derived tables as child tables
            # (joined other than on the director key, ...): the czar can
            return await self._table_plan(original, f"derived tables joined with tables ({e.message})",
                                          default_db, output_names, merged)

    async def _table_plan(self, select: exp.Select, reason: str, default_db, output_names,
                          merged: bool) -> QueryPlan:
        """The query on the czar over the rows of its tables (czar/plan_on_czar.py)."""
        sources = table_sources(select, self.catalog.view, default_db)
        plan = await self._czar_plan(select, sources, default_db, output_names, merged)
        plan.on_czar = reason
        return plan

    async def _single_plan(self, select: exp.Select, default_db, output_names, merged: bool,
                           view=None, colocated=(), derived=()) -> QueryPlan:
        """A query without sub-queries to run first: the analysis passes, then the plan (`view`:
        the catalog with derived tables' stand-ins; `colocated`, `derived`: what goes into the
        chunk queries once the plan is built)."""
        view = view or self.catalog.view
        if not isinstance(select, exp.Select) or select.args.get("from_") is None:
            raise not_supported(f"this kind of query ({select.key.upper()} without tables)")
        ctx = QueryContext(select=select, default_db=default_db, catalog=view, output_names=output_names)
        select = analyze(select, ctx)
        for ref in ctx.tables:
            if ref.db.lower() not in view.published:
                raise QservError(ER_BAD_DB_ERROR, f"Database '{ref.db}' is not published yet "
                                                  "(a load is in progress)")
        split = split_lookup(select, ctx)
        chunk_args = None
        for lookup in ctx.index_lookups:
            if lookup is split:
                chunk_args = await self.index_chunk_keys(lookup)
            if chunk_args is not None and lookup is split:
                place_marker(lookup)
                ctx.restrict_chunks(chunk_args, f"{lookup.describe()}; each chunk gets only its "
                                                f"own keys ({len(lookup.values)} keys)")
            else:
                ctx.restrict_chunks(await self.index_chunks(lookup), lookup.describe())
        chunks = set(view.placement.get(ctx.database.lower(), {}))
        if ctx.chunk_restriction is not None:
            chunks &= ctx.chunk_restriction
        if (colocated or derived) and ctx.neighbour_join is not None:
            raise NotColocated("in a near-neighbour join")
        plan = build_plan(select, ctx, sorted(chunks), merged=merged)
        fill(plan, list(colocated))
        fill_derived(plan, list(derived))
        plan.pruned_by = list(ctx.pruned_by)
        plan.few_rows = few_rows(ctx.index_lookups)
        if chunk_args is not None:
            plan.chunk_args = {c: chunk_args[c] for c in plan.chunks}
            plan.shadow_sql, plan.empty_sql = without_marker(plan.shadow_sql), without_marker(plan.empty_sql)
        return plan

    async def _phase_plan(self, select: exp.Select, phases, default_db, output_names,
                          merged: bool) -> QueryPlan:
        """A two-phase plan (czar/plan_phases.py): each sub-query planned now; the outer query
        once their rows are known."""
        for phase in phases:
            check_uncorrelated(phase.select, self.catalog.view, default_db)
            inner = prepare(phase)
            phase.plan = await self.plan(inner, default_db, default_names(inner), merged=True)
        database = next((p.plan.database for p in phases if p.plan.database), default_db or "")
        return QueryPlan(database=database, chunk_template="", shadow_sql="", merge_sql="",
                         partitioned=False, shape=Shape.TWO_PHASE, phases=phases, outer=select,
                         default_db=default_db, output_names=list(output_names), merged=merged)

    async def _czar_plan(self, query: exp.Query, sources, default_db, output_names,
                         merged: bool) -> QueryPlan:
        """Derived tables / set operations: each source planned now (its rows go to a czar
        table), the query over them runs on the czar (czar/plan_phases.py)."""
        for source in sources:
            check_materializable(source.select)
            source.plan = await self.plan(source.select.copy(), default_db,
                                          source.names or query_names(source.select), merged=True)
        database = next((s.plan.database for s in sources if s.plan.database), default_db or "")
        return QueryPlan(database=database, chunk_template="", shadow_sql="", merge_sql="",
                         partitioned=False, shape=Shape.ON_CZAR, phases=sources, outer=query,
                         default_db=default_db, output_names=list(output_names), merged=merged)

    async def _materialize(self, plan: QueryPlan, held: list[str]) -> str:
        """The rows of a sub-query's plan into a new czar table (`result_<id>` in the result
        database, leased: its id goes to `held`, whose tables the caller drops); returns the
        table's name."""
        if plan.shape is Shape.TWO_PHASE:
            outer = await self._run_phases(plan)
            outer.session_sql = plan.session_sql
            plan = outer
        query_id = self.new_query_id()
        self.leases[query_id] = lease = Lease()
        held.append(query_id)
        plan._lease = lease  # the lease lives as long as the plan that made the table
        name = f"result_{query_id}"
        table = f"`{RESULT_DB}`.`{name}`"
        inner_held: list[str] = []
        result = None
        try:
            if plan.shape is Shape.ON_CZAR:
                await self._materialize_sources(plan, inner_held)
                sql = render(plan.outer)
            elif plan.shape is Shape.EMPTY:
                sql = plan.empty_sql
            else:
                result = await self._collect(plan, self.new_query_id())
                sql = plan.merge_for(result.name)
            async with self.pool.acquire() as conn, conn.cursor() as cur:
                if plan.session_sql:
                    await cur.execute(plan.session_sql)
                await cur.execute(deadline.limited(f"CREATE TABLE {table} ENGINE=MyISAM AS {sql}"))
                if plan.session_sql:
                    conn.close()
        finally:
            if result is not None:
                await result.drop()
            await self._drop_tables(inner_held)
        return name

    async def _materialize_sources(self, plan: QueryPlan, held: list[str]) -> None:
        """Every source of an ON_CZAR plan into its czar table, put in its place in the query."""
        for source in plan.phases:
            source.plan.session_sql = plan.session_sql
            place_table(source, RESULT_DB, await self._materialize(source.plan, held))

    async def _drop_tables(self, query_ids: list[str]) -> None:
        for query_id in query_ids:
            try:
                async with self.pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute(f"DROP TABLE IF EXISTS `{RESULT_DB}`.`result_{query_id}`")
            finally:
                self._end_lease(query_id)

    async def _execute_on_czar(self, plan: QueryPlan, shadow: ShadowResult) -> QueryResult:
        """The sources into czar tables, then the query over them on the czar, its rows
        streamed to the client; the tables go when the rows are read."""
        held: list[str] = []
        try:
            await self._materialize_sources(plan, held)
            conn = await self.raw_pool.acquire()
        except BaseException:
            await self._drop_tables(held)
            raise
        cur = conn.cursor(asyncmy.cursors.SSCursor)
        try:
            if plan.session_sql:
                await cur.execute(plan.session_sql)
            await cur.execute(deadline.limited(render(plan.outer)))
        except BaseException:
            await cur.close()
            self._release(conn, plan.session_sql)
            await self._drop_tables(held)
            raise

        async def cleanup():
            self._release(conn, plan.session_sql)
            await self._drop_tables(held)

        names = shadow.names
        columns = [((names[i],) if i < len(names) else (d[0],)) + tuple(d[1:])
                   for i, d in enumerate(cur.description)]
        binary = [f.charsetnr == BINARY_CHARSET for f in cur._result.fields]
        return QueryResult(columns=columns, binary=binary, batches=_fetched(cur, cleanup))

    async def _run_phases(self, plan: QueryPlan) -> QueryPlan:
        """Run the sub-queries of a two-phase plan, put their rows in the outer query, plan it."""
        for phase in plan.phases:
            phase.plan.session_sql = plan.session_sql
            substitute(phase, *await self._phase_rows(phase.plan, phase.row_limit + 1))
        outer = await self.plan(plan.outer, plan.default_db, plan.output_names, merged=plan.merged)
        outer.session_sql = plan.session_sql
        return outer

    async def _phase_rows(self, plan: QueryPlan, limit: int) -> tuple[list[tuple], list[int]]:
        """Up to `limit` rows of a sub-query's plan, as Python values, and its columns' MySQL
        type codes."""
        if plan.shape is Shape.TWO_PHASE:
            plan = await self._run_phases(plan)
        if plan.shape is Shape.ON_CZAR:
            held: list[str] = []
            try:
                name = await self._materialize(plan, held)
                async with self.pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute(f"SELECT * FROM `{RESULT_DB}`.`{name}` LIMIT {int(limit)}")
                    return list(await cur.fetchall()), [d[1] for d in cur.description]
            finally:
                await self._drop_tables(held)
        if plan.shape is Shape.EMPTY:
            async with self.pool.acquire() as conn, conn.cursor() as cur:
                if plan.session_sql:
                    await cur.execute(plan.session_sql)
                await cur.execute(deadline.limited(plan.empty_sql))
                rows = list(await cur.fetchmany(limit))
                types = [d[1] for d in cur.description]
                if plan.session_sql:
                    conn.close()
                return rows, types
        result = await self._execute_merged(plan, raw=False)
        rows: list[tuple] = []
        try:
            async for batch in result.batches:
                rows.extend(batch)
                if len(rows) >= limit:
                    break
        finally:
            await result.batches.aclose()
        return rows[:limit], [d[1] for d in result.columns]

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

    async def index_chunk_keys(self, lookup) -> dict[int, str] | None:
        """Each chunk's keys of a look-up's list (czar/chunk_keys.py); None without an index."""
        table = director_index_table(lookup.database, lookup.director_table)
        where, args = _index_condition(lookup)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            try:
                await cur.execute(f"SELECT objectId, chunkId FROM {table} WHERE {where}", args)
            except asyncmy.errors.ProgrammingError:
                return None
            return chunk_lists(await cur.fetchall())

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
        if plan.shape is Shape.TWO_PHASE:
            return await self.execute(await self._run_phases(plan), shadow)
        if plan.shape is Shape.ON_CZAR:
            return await self._execute_on_czar(plan, shadow)
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
        jobs = make_jobs(plan.chunks, placement, self.config.chunks_per_job, plan.chunk_args)
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
            job = Job(plan.chunks, spread(plan.chunks[0], placement[plan.chunks[0]]),
                      [plan.chunk_args[c] for c in plan.chunks] if plan.chunk_args else None)
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

    async def _execute_merged(self, plan: QueryPlan, raw: bool = True) -> QueryResult:
        """Chunk results into the result table, the merge query over it; `raw`: values as the
        bytes MariaDB sent (for the client), else Python values (for a sub-query)."""
        query_id = self.new_query_id()
        started = time.monotonic()
        result = await self._collect(plan, query_id)
        lease = self.leases[query_id]
        try:
            pool = self.raw_pool if raw else self.pool
            conn = await pool.acquire()
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
            self._release(conn, plan.session_sql, pool)
            await result.drop()
            self._end_lease(query_id)
            raise

        async def cleanup():
            self._release(conn, plan.session_sql, pool)
            await result.drop()
            self._end_lease(query_id, lease)
            log.info("query %s done in %.3f s", query_id, time.monotonic() - started)

        binary = [f.charsetnr == BINARY_CHARSET for f in cur._result.fields]
        return QueryResult(columns=cur.description, binary=binary, batches=_fetched(cur, cleanup))

    async def _collect(self, plan: QueryPlan, query_id: str) -> ResultTable:
        """Every chunk job's rows in the result table of `query_id` (leased until dropped)."""
        started = time.monotonic()
        view = self.catalog.view
        self.leases[query_id] = lease = Lease()
        result = ResultTable(self.pool, query_id, self.config.max_result_rows, plan.session_sql)
        result._lease = lease
        try:
            await result.create(plan.shadow_sql)
        except BaseException:
            self._end_lease(query_id)
            raise
        try:
            if plan.partitioned:
                placement = view.placement.get(plan.database.lower(), {})
                jobs = make_jobs(plan.chunks, placement, self.config.chunks_per_job,
                                 plan.chunk_args)
            else:  # replicated tables only: every worker has them, any can answer
                jobs = [Job([], self.dispatcher.workers_in_turn())]
            await self.dispatcher.run(query_id, plan.database, plan.chunk_template, jobs, result.load,
                                      session_sql=plan.session_sql)
            log.info("query %s: %d chunks in %d jobs dispatched in %.3f s", query_id,
                     len(plan.chunks), len(jobs), time.monotonic() - started)
        except BaseException:
            await result.drop()
            self._end_lease(query_id)
            raise
        return result

    def _end_lease(self, query_id: str, lease: "Lease | None" = None) -> None:
        """The query's table and files are gone: the sweeper may forget it. (The result's
        reader passes its `lease`: naming it there keeps it alive as long as the reader.)"""
        if self.leases.get(query_id) is lease or lease is None:
            self.leases.pop(query_id, None)

    def _release(self, conn, session_sql: str, pool=None) -> None:
        """Back to the pool, unless it carries a client's session settings (then closed)."""
        if session_sql:
            conn.close()
        (pool or self.raw_pool).release(conn)

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


async def _fetched(cur, cleanup):
    """The rows of `cur` in batches of FETCH_ROWS, then (also when the consumer stops early)
    the cursor closed and `cleanup()` awaited: the connection given back, result tables
    dropped."""
    try:
        while True:
            batch = await cur.fetchmany(FETCH_ROWS)
            if not batch:
                break
            yield batch
    finally:
        await cur.close()
        await cleanup()
