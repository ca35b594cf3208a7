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
import copy
import json
import logging
import re
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import AsyncIterator

import grpc
import pymysql

from qserv.catalog import (CHILD, CHUNK_COLUMNS, CHUNK_MARKER, DIRECTOR, REPLICATED, ROLES,
                           ColumnSpec, DatabaseSpec, TableSpec)
from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer
from qserv.metadata import INTERNAL_DBS, META_DB, MetadataStore, director_index_table
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.grpc_auth import aio_channel
from qserv.workers import CHANNEL_OPTIONS, RECONNECT_OPTIONS

log = logging.getLogger("czar.ingest")

STARTED, COMMITTED, ABORTING, ABORTED = "STARTED", "COMMITTED", "ABORTING", "ABORTED"
IN_PROGRESS, FINISHED, FAILED = "IN_PROGRESS", "FINISHED", "FAILED"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PIECE = 4 << 20   # bytes per gRPC message to a worker

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_dbs (
        db VARCHAR(64) NOT NULL PRIMARY KEY,
        replication INT NOT NULL DEFAULT 1,
        state VARCHAR(16) NOT NULL,
        created DOUBLE NOT NULL, published DOUBLE NULL) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_trans (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        db VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL,
        context VARCHAR(255) NOT NULL DEFAULT '',
        begin_time DOUBLE NOT NULL, end_time DOUBLE NULL, error TEXT NULL,
        KEY (db, state)) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_contrib (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        trans_id INT UNSIGNED NOT NULL, db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL,
        chunk INT NULL, overlap TINYINT NOT NULL DEFAULT 0, workers VARCHAR(1024) NOT NULL,
        name VARCHAR(1024) NOT NULL DEFAULT '', status VARCHAR(16) NOT NULL,
        `rows` BIGINT NOT NULL DEFAULT 0, bytes BIGINT NOT NULL DEFAULT 0, error TEXT NULL,
        begin_time DOUBLE NOT NULL, end_time DOUBLE NULL,
        KEY (trans_id), KEY (db, status)) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_chunks (
        db VARCHAR(64) NOT NULL, chunk_id INT NOT NULL, worker VARCHAR(64) NOT NULL,
        PRIMARY KEY (db, chunk_id, worker)) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_steps (
        db VARCHAR(64) NOT NULL, step VARCHAR(32) NOT NULL, state VARCHAR(16) NOT NULL,
        seconds DOUBLE NULL, detail TEXT NULL, updated DOUBLE NOT NULL,
        PRIMARY KEY (db, step)) ENGINE=InnoDB""",
    # The units (e.g. `chunk:1234`) a transaction loads when it loads several (a bundle of
    # chunks): a resumed `qserv ingest` skips the units of committed transactions.
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_trans_units (
        trans_id INT UNSIGNED NOT NULL, db VARCHAR(64) NOT NULL, unit VARCHAR(255) NOT NULL,
        PRIMARY KEY (trans_id, unit), KEY (db)) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.ingest_index_files (
        db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL,
        `rows` BIGINT NOT NULL, PRIMARY KEY (db, tbl, name)) ENGINE=InnoDB""",
]


class IngestError(Exception):
    """A request that cannot be honoured; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400, **ext):
        super().__init__(message)
        self.status = status
        self.ext = ext


def check_name(value, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise IngestError(f"{what} must be a name of letters, digits and _ (not {value!r})")
    return value


def index_stage_table(db: str, table: str) -> str:
    return f"`{META_DB}`.`dirstage__{db}__{table}`"


@dataclass
class Dialect:
    """How a contribution file is written (LOAD DATA's FIELDS/LINES options). The default is
    the partitioner's CSV (qserv.catalog.LOAD_FORMAT): values in double quotes, no escape
    character, the bare word NULL for NULL."""

    fields_terminated_by: str = ","
    fields_enclosed_by: str = '"'
    fields_escaped_by: str = ""
    lines_terminated_by: str = "\n"
    ignore_lines: int = 0

    @classmethod
    def from_query(cls, q) -> "Dialect":
        d = cls()
        for name in ("fields_terminated_by", "fields_enclosed_by", "fields_escaped_by",
                     "lines_terminated_by"):
            if name in q:
                value = q[name].replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")
                if name == "fields_escaped_by" and q[name] == "\\\\":
                    value = "\\"
                setattr(d, name, value)
        if "ignore_lines" in q:
            d.ignore_lines = int(q["ignore_lines"])
        for name in ("fields_terminated_by", "lines_terminated_by"):
            if getattr(d, name) == "":
                raise IngestError(f"{name} must not be empty")
        return d


@dataclass
class Inflight:
    calls: set = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0


class IngestController:
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

    # ---- plumbing ------------------------------------------------------------------------
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
                                  options=CHANNEL_OPTIONS + RECONNECT_OPTIONS)
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

    # ---- databases and tables ------------------------------------------------------------
    async def database_row(self, db: str) -> dict:
        rows = await self.sql(f"SELECT db, replication, state, created, published FROM "
                              f"{META_DB}.ingest_dbs WHERE db = %s", (db,))
        if not rows:
            raise IngestError(f"database {db!r} is not registered for ingest", 404)
        name, replication, state, created, published = rows[0]
        return dict(database=name, replication=replication, state=state, created=created,
                    published_at=published)

    async def spec(self, db: str) -> DatabaseSpec:
        rows = await self.sql(f"SELECT spec FROM {META_DB}.dbs WHERE name = %s", (db,))
        if not rows:
            raise IngestError(f"database {db!r} is not registered", 404)
        cached = self._specs.get(db)
        if cached is None or cached[0] != rows[0][0]:
            cached = self._specs[db] = (rows[0][0], DatabaseSpec.from_json(rows[0][0]))
        return cached[1]

    async def register_database(self, body: dict) -> dict:
        db = check_name(body.get("database"), "database")
        if db.lower() in INTERNAL_DBS:
            raise IngestError(f"{db!r} is a reserved database name")
        params = dict(chunk_order=int(body.get("chunk_order", 5)),
                      subchunk_bits=int(body.get("subchunk_bits", 3)),
                      overlap_deg=float(body.get("overlap", body.get("overlap_deg", 0.01667))))
        replication = int(body.get("replication", 1))
        if not 1 <= replication <= len(self.config.workers):
            raise IngestError(f"replication must be between 1 and {len(self.config.workers)} "
                              f"(the number of workers), not {replication}")
        existing = await self.sql(f"SELECT spec FROM {META_DB}.dbs WHERE name = %s", (db,))
        if existing:
            spec = DatabaseSpec.from_json(existing[0][0])
            row = await self.database_row(db) if await self.sql(
                f"SELECT 1 FROM {META_DB}.ingest_dbs WHERE db = %s", (db,)) else None
            same = (row is not None and row["replication"] == replication
                    and (spec.chunk_order, spec.subchunk_bits) == (params["chunk_order"], params["subchunk_bits"])
                    and abs(spec.overlap_deg - params["overlap_deg"]) < 1e-12)
            if not same:
                raise IngestError(f"database {db!r} already exists with other parameters "
                                  "(DELETE /ingest/database/{name} first)", 409)
            return {"database": {**row, **params}}   # idempotent: resume re-registers
        spec = DatabaseSpec(name=db, tables=[], **params)

        def reg(m: MetadataStore):
            m.register_database(spec)
            m.execute(f"REPLACE INTO {META_DB}.ingest_dbs (db, replication, state, created) "
                      "VALUES (%s, %s, 'REGISTERED', %s)", (db, replication, time.time()))
        await self.meta(reg)
        return {"database": {**(await self.database_row(db)), **params}}

    async def register_table(self, body: dict) -> dict:
        db = check_name(body.get("database"), "database")
        name = check_name(body.get("table"), "table")
        row = await self.database_row(db)
        spec = copy.deepcopy(await self.spec(db))   # the cached one stays as stored
        role = body.get("role")
        if role is None:   # the original's flags
            if not int(body.get("is_partitioned", 0)):
                role = REPLICATED
            elif int(body.get("is_director", 0)) or not body.get("director_table"):
                role = DIRECTOR
            else:
                role = CHILD
        if role not in ROLES:
            raise IngestError(f"role must be one of {ROLES}, not {role!r}")
        schema = body.get("schema")
        if not isinstance(schema, list) or not schema:
            raise IngestError("schema must be a non-empty ordered list of {name, type}")
        columns = []
        for c in schema:
            if not isinstance(c, dict) or "name" not in c or "type" not in c:
                raise IngestError(f"schema entry {c!r} needs a name and a type")
            if c["name"] in CHUNK_COLUMNS or c["name"] == "qserv_trans_id":
                continue   # the system's own columns (the original's clients list them)
            check_name(c["name"], "column")
            if ";" in c["type"] or "`" in c["type"]:
                raise IngestError(f"column {c['name']}: invalid type {c['type']!r}")
            columns.append(ColumnSpec(c["name"], c["type"]))
        try:
            table = TableSpec(
                name=name, role=role, columns=columns,
                primary_key=list(body.get("primary_key") or []),
                indexes=[list(i) for i in body.get("indexes") or []],
                ra=body.get("ra") or body.get("longitude_key"),
                dec=body.get("dec") or body.get("latitude_key"),
                director_key=body.get("director_key"),
                director_table=body.get("director_table") or None)
        except ValueError as e:
            raise IngestError(str(e))
        if role == CHILD and not any(t.name == table.director_table for t in spec.tables):
            raise IngestError(f"child table {name}: register its director "
                              f"{table.director_table!r} first")
        for t in spec.tables:
            if t.name.lower() == name.lower():
                if _same_table(t, table):
                    return {"table": _table_json(t)}        # idempotent
                if row["state"] == "PUBLISHED":
                    raise IngestError(f"{db} is published: its tables cannot change", 409)
                if await self._has_contributions(db):
                    raise IngestError(f"{db}.{name} already has data with another schema", 409)
        if row["state"] == "PUBLISHED":
            raise IngestError(f"{db} is published: no table can be added", 409)
        spec.tables = [t for t in spec.tables if t.name.lower() != name.lower()] + [table]
        await self.meta(lambda m: m.register_database(spec))
        return {"table": _table_json(table)}

    async def _has_contributions(self, db: str) -> bool:
        return bool(await self.sql(f"SELECT 1 FROM {META_DB}.ingest_contrib WHERE db = %s "
                                   "LIMIT 1", (db,)))

    async def delete_database(self, db: str) -> dict:
        db = check_name(db, "database")
        busy = await self.sql(f"SELECT id FROM {META_DB}.ingest_trans WHERE db = %s AND state "
                              "IN (%s, %s)", (db, STARTED, ABORTING))
        if any(t in self.inflight for (t,) in busy):
            raise IngestError(f"{db} has contributions in flight", 409)
        for w in self.config.workers:
            await self.stub(w.name).ExecuteDdl(pb.DdlRequest(
                statements=[f"DROP DATABASE IF EXISTS `{db}`"]), timeout=120)

        def drop(m: MetadataStore):
            specs = m.execute(f"SELECT spec FROM {META_DB}.dbs WHERE name = %s", (db,))
            if specs:
                for t in DatabaseSpec.from_json(specs[0][0]).tables:
                    m.execute(f"DROP TABLE IF EXISTS {director_index_table(db, t.name)}")
                    m.execute(f"DROP TABLE IF EXISTS {index_stage_table(db, t.name)}")
            m.drop_database(db)
            for table in ("ingest_dbs", "ingest_trans", "ingest_contrib", "ingest_chunks",
                          "ingest_steps", "ingest_index_files", "ingest_trans_units"):
                m.execute(f"DELETE FROM {META_DB}.{table} WHERE db = %s", (db,))
        await self.meta(drop)
        return {"database": db, "deleted": True}

    # ---- chunk placement -----------------------------------------------------------------
    async def allocate(self, db: str, chunks: list[int]) -> dict[int, list[str]]:
        """Workers of each chunk, allocating new chunks to the least loaded workers
        (`replication` distinct ones), in ascending chunk order so that neighbours spread."""
        wanted = sorted(set(chunks))
        if len(wanted) <= 1000:   # the usual case: one chunk, already allocated
            known: dict[int, list[str]] = defaultdict(list)
            for c, w in await self.sql(
                    f"SELECT chunk_id, worker FROM {META_DB}.ingest_chunks WHERE db = %s AND "
                    f"chunk_id IN ({', '.join(['%s'] * len(wanted))})", [db, *wanted]):
                known[c].append(w)
            if len(known) == len(wanted):
                return {c: sorted(known[c]) for c in chunks}
        row = await self.database_row(db)
        async with self._alloc_lock:
            rows = await self.sql(f"SELECT chunk_id, worker FROM {META_DB}.ingest_chunks "
                                  "WHERE db = %s", (db,))
            placement: dict[int, list[str]] = defaultdict(list)
            load = {w.name: 0 for w in self.config.workers}
            for c, w in rows:
                placement[c].append(w)
                load[w] = load.get(w, 0) + 1
            new = []
            for c in sorted(set(chunks)):
                if c in placement:
                    continue
                if row["state"] == "PUBLISHED":
                    raise IngestError(f"{db} is published: no chunk can be added", 409)
                order = sorted(load, key=lambda w: (load[w], list(load).index(w)))
                placement[c] = order[:row["replication"]]
                for w in placement[c]:
                    load[w] += 1
                    new.append((db, c, w))
            if new:
                def insert(m: MetadataStore):
                    with m.conn.cursor() as cur:
                        cur.executemany(f"INSERT IGNORE INTO {META_DB}.ingest_chunks "
                                        "VALUES (%s, %s, %s)", new)
                await self.meta(insert)
        return {c: sorted(placement[c]) for c in chunks}

    def location(self, chunk: int | None, workers: list[str]) -> dict:
        return {"chunk": chunk, "workers": [
            {"worker": w, "host": self.config.worker(w).host,
             "grpc_port": self.config.worker(w).grpc_port} for w in workers]}

    # ---- transactions --------------------------------------------------------------------
    async def trans_row(self, trans_id: int) -> dict:
        rows = await self.sql(f"SELECT id, db, state, context, begin_time, end_time, error FROM "
                              f"{META_DB}.ingest_trans WHERE id = %s", (trans_id,))
        if not rows:
            raise IngestError(f"no transaction {trans_id}", 404)
        return _trans_json(rows[0])

    async def transactions(self, db: str | None = None, state: str | None = None,
                           units: bool = False) -> list[dict]:
        """`units`: each transaction also lists the units it loads (a bundle's chunks)."""
        where, args = [], []
        if db:
            where.append("db = %s"), args.append(db)
        if state:
            where.append("state = %s"), args.append(state)
        cond = (" WHERE " + " AND ".join(where) if where else "")
        sql = (f"SELECT id, db, state, context, begin_time, end_time, error FROM "
               f"{META_DB}.ingest_trans" + cond + " ORDER BY id")
        out = [_trans_json(r) for r in await self.sql(sql, args)]
        if units:
            of: dict[int, list[str]] = defaultdict(list)
            for t, u in await self.sql(
                    f"SELECT trans_id, unit FROM {META_DB}.ingest_trans_units WHERE trans_id IN "
                    f"(SELECT id FROM {META_DB}.ingest_trans{cond})", args):
                of[t].append(u)
            for t in out:
                t["units"] = of.get(t["id"], [])
        return out

    async def start_transaction(self, body: dict) -> dict:
        db = check_name(body.get("database"), "database")
        row = await self.database_row(db)
        if row["state"] == "PUBLISHED":
            raise IngestError(f"{db} is published: no transaction can start", 409)
        context = str(body.get("context", ""))[:255]
        units = body.get("units") or []
        if not isinstance(units, list) or not all(isinstance(u, str) and len(u) <= 255 for u in units):
            raise IngestError("units must be a list of strings (at most 255 characters each)")

        def insert(m: MetadataStore):
            m.execute(f"INSERT INTO {META_DB}.ingest_trans (db, state, context, begin_time) "
                      "VALUES (%s, %s, %s, %s)", (db, STARTED, context, time.time()))
            trans_id = m.execute("SELECT LAST_INSERT_ID()")[0][0]
            if units:
                with m.conn.cursor() as cur:
                    cur.executemany(f"INSERT IGNORE INTO {META_DB}.ingest_trans_units VALUES "
                                    "(%s, %s, %s)", [(trans_id, db, u) for u in units])
            return trans_id
        trans_id = await self.meta(insert)
        return {"transaction": await self.trans_row(trans_id)}

    async def end_transaction(self, trans_id: int, abort: bool) -> dict:
        t = await self.trans_row(trans_id)
        if t["state"] in (COMMITTED, ABORTED):
            if (t["state"] == ABORTED) == abort:
                return {"transaction": t}             # idempotent
            raise IngestError(f"transaction {trans_id} is already {t['state']}", 409)
        if t["state"] == ABORTING and not abort:
            raise IngestError(f"transaction {trans_id} is being aborted", 409)
        self.closing.add(trans_id)
        try:
            if abort:
                return {"transaction": await self._abort(t)}
            inflight = self.inflight.get(trans_id)
            if inflight and inflight.count:
                raise IngestError(f"transaction {trans_id} has {inflight.count} contributions "
                                  "in flight: wait for them before committing", 409)
            failed = await self.sql(f"SELECT COUNT(*) FROM {META_DB}.ingest_contrib WHERE "
                                    "trans_id = %s AND status <> %s", (trans_id, FINISHED))
            if failed[0][0]:
                raise IngestError(f"transaction {trans_id} has {failed[0][0]} failed "
                                  "contributions: abort it", 409)
            await self.sql(f"UPDATE {META_DB}.ingest_trans SET state = %s, end_time = %s "
                           "WHERE id = %s AND state = %s", (COMMITTED, time.time(), trans_id, STARTED))
            return {"transaction": await self.trans_row(trans_id)}
        finally:
            self.closing.discard(trans_id)

    async def _abort(self, t: dict) -> dict:
        trans_id = t["id"]
        await self.sql(f"UPDATE {META_DB}.ingest_trans SET state = %s WHERE id = %s",
                       (ABORTING, trans_id))
        inflight = self.inflight.get(trans_id)
        if inflight and inflight.count:
            for call in list(inflight.calls):
                call.cancel()
            try:
                await asyncio.wait_for(inflight.done.wait(), 60)
            except asyncio.TimeoutError:
                pass
        # Every worker: the transaction may have touched a replicated table anywhere, and a
        # chunk's replicas; an unreachable worker leaves the transaction ABORTING (retry).
        errors = []

        async def drop(w: str):
            for attempt in range(2):
                try:
                    reply = await self.stub(w).AbortTransaction(
                        pb.TransactionRequest(database=t["database"], trans_id=trans_id), timeout=300)
                    return reply.partitions_dropped
                except grpc.aio.AioRpcError as e:
                    if attempt == 0 and e.code() == grpc.StatusCode.UNAVAILABLE:
                        await self.reachable(w)      # restarted moments ago? one more try
                        continue
                    errors.append(f"{w}: {e.details() or e.code().name}")
                    return 0
        dropped = await asyncio.gather(*(drop(w.name) for w in self.config.workers))
        if errors:
            error = "abort incomplete (retry the abort): " + "; ".join(errors)
            await self.sql(f"UPDATE {META_DB}.ingest_trans SET error = %s WHERE id = %s",
                           (error, trans_id))
            raise IngestError(error, 503, transaction=await self.trans_row(trans_id))
        await self.sql(f"UPDATE {META_DB}.ingest_trans SET state = %s, end_time = %s WHERE id = %s",
                       (ABORTED, time.time(), trans_id))
        log.info("transaction %d aborted: %d partitions dropped", trans_id, sum(dropped))
        return await self.trans_row(trans_id)

    # ---- contributions -------------------------------------------------------------------
    async def contribute(self, q, body: AsyncIterator[bytes]) -> dict:
        """Stream one file (`body`) into `q['table']` (chunk `q['chunk']`, overlap or not) of
        transaction `q['transaction_id']`, on every worker that holds the chunk."""
        try:
            trans_id = int(q["transaction_id"])
        except (KeyError, ValueError):
            raise IngestError("transaction_id is required")
        t = await self.trans_row(trans_id)
        db = t["database"]
        spec = await self.spec(db)
        try:
            table = spec.table(check_name(q.get("table"), "table"))
        except KeyError:
            raise IngestError(f"table {q.get('table')!r} is not registered in {db}", 404)
        overlap = q.get("overlap", "0") in ("1", "true", "True")
        if table.partitioned:
            if "chunk" not in q:
                raise IngestError(f"{table.name} is partitioned: chunk is required")
            chunk = int(q["chunk"])
            if overlap and table.role != DIRECTOR:
                raise IngestError(f"only director tables have overlap ({table.name} is a {table.role})")
            workers = (await self.allocate(db, [chunk]))[chunk]
            target = table.overlap_table(chunk) if overlap else table.chunk_table(chunk)
            default_cols = table.column_names + list(CHUNK_COLUMNS)
        else:
            chunk, overlap = None, False
            workers = [w.name for w in self.config.workers]
            target = table.name
            default_cols = table.column_names
        columns = q["columns"].split(",") if q.get("columns") else default_cols
        dialect = Dialect.from_query(q)
        # Check and register atomically (no await in between) against commit/abort.
        if t["state"] != STARTED or trans_id in self.closing:
            raise IngestError(f"transaction {trans_id} is {t['state']}"
                              + (" (closing)" if trans_id in self.closing else "")
                              + ": no contribution accepted", 409)
        inflight = self.inflight[trans_id]
        inflight.count += 1
        inflight.done.clear()
        contrib_id = None
        try:
            def record(m: MetadataStore):
                m.execute(f"INSERT INTO {META_DB}.ingest_contrib (trans_id, db, tbl, chunk, "
                          "overlap, workers, name, status, begin_time) VALUES "
                          "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                          (trans_id, db, table.name, chunk, int(overlap), ",".join(workers),
                           str(q.get("name", ""))[:1024], IN_PROGRESS, time.time()))
                return m.execute("SELECT LAST_INSERT_ID()")[0][0]
            contrib_id = await self.meta(record)
            header = pb.ContributionHeader(
                database=db, table=target, trans_id=trans_id,
                create_sql=table.ddl(db, target, transactional=True, trans_id=trans_id),
                columns=columns,
                fields_terminated_by=dialect.fields_terminated_by,
                fields_enclosed_by=dialect.fields_enclosed_by,
                fields_escaped_by=dialect.fields_escaped_by,
                lines_terminated_by=dialect.lines_terminated_by,
                ignore_lines=dialect.ignore_lines, contribution_id=str(contrib_id))
            rows, nbytes = await self._stream(trans_id, workers, header, body)
            await self.sql(f"UPDATE {META_DB}.ingest_contrib SET status = %s, `rows` = %s, "
                           "bytes = %s, end_time = %s WHERE id = %s",
                           (FINISHED, rows, nbytes, time.time(), contrib_id))
        except BaseException as e:
            message = str(e) if not isinstance(e, asyncio.CancelledError) else "cancelled"
            if contrib_id is not None:
                await asyncio.shield(self.sql(
                    f"UPDATE {META_DB}.ingest_contrib SET status = %s, error = %s, end_time = %s "
                    "WHERE id = %s", (FAILED, message[:4000], time.time(), contrib_id)))
            if isinstance(e, IngestError):
                e.ext.setdefault("contribution", contrib_id)
                raise
            if isinstance(e, Exception):
                raise IngestError(f"contribution to {db}.{target} failed: {message}", 400,
                                  contribution=contrib_id) from e
            raise
        finally:
            inflight.count -= 1
            if inflight.count == 0:
                inflight.done.set()
                self.inflight.pop(trans_id, None)
        return {"contrib": {"id": contrib_id, "transaction_id": trans_id, "database": db,
                            "table": table.name, "chunk": chunk, "overlap": int(overlap),
                            "worker_table": target, "workers": workers, "rows": rows,
                            "bytes": nbytes}}

    async def contribute_bundle(self, q, body: AsyncIterator[bytes]) -> dict:
        """Many chunk files of one transaction in one request: czar/ingest_bundle.py."""
        from czar.ingest_bundle import contribute_bundle
        return await contribute_bundle(self, q, body)

    async def _stream(self, trans_id: int, workers: list[str], header: pb.ContributionHeader,
                      body: AsyncIterator[bytes]) -> tuple[int, int]:
        """Tee `body` to a LoadContribution call on each worker; the rows they loaded."""
        inflight = self.inflight[trans_id]
        calls = {w: self.stub(w).LoadContribution() for w in workers}
        inflight.calls.update(calls.values())
        try:
            first = pb.ContributionBatch(header=header)
            nbytes = 0
            buf = bytearray()
            async for piece in body:
                buf += piece
                if len(buf) >= PIECE:
                    msg = pb.ContributionBatch(data=bytes(buf))
                    if first is not None:
                        msg.header.CopyFrom(header)
                        first = None
                    nbytes += len(buf)
                    buf.clear()
                    await self._write_all(calls, msg)
            msg = pb.ContributionBatch(data=bytes(buf))
            if first is not None:
                msg.header.CopyFrom(header)
            nbytes += len(buf)
            await self._write_all(calls, msg)
            replies = await self._replies(calls)
            counts = {r.rows for r in replies.values()}
            if len(counts) != 1:
                raise IngestError(f"replicas loaded different row counts: "
                                  f"{ {w: r.rows for w, r in replies.items()} }")
            return counts.pop(), nbytes
        except BaseException:
            for call in calls.values():
                call.cancel()
            raise
        finally:
            inflight.calls.difference_update(calls.values())

    @staticmethod
    async def _replies(calls: dict) -> dict:
        """End the writing of every worker's load call and wait for their replies; any that
        failed make one IngestError naming each worker and what it said."""
        for call in calls.values():
            await call.done_writing()
        replies, errors = {}, []
        for w, call in calls.items():
            try:
                replies[w] = await call
            except grpc.aio.AioRpcError as e:
                errors.append(f"{w}: {e.details() or e.code().name}")
        if errors:
            raise IngestError("; ".join(errors))
        return replies

    @staticmethod
    async def _write_all(calls: dict, msg) -> None:
        async def write(w, call):
            try:
                await call.write(msg)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as e:
                # The call ended early: its status says why.
                try:
                    await call
                except grpc.aio.AioRpcError as e2:
                    raise IngestError(f"{w}: {e2.details() or e2.code().name}") from e2
                raise IngestError(f"{w}: the load stream closed early ({e})") from e
        await asyncio.gather(*(write(w, c) for w, c in calls.items()))

    # ---- director index ------------------------------------------------------------------
    async def stage_index(self, q, body: AsyncIterator[bytes]) -> dict:
        """Stage one director-index file (key, chunkId, subChunkId) of a director table;
        a file sent again (same `name`) replaces its earlier rows (resumable)."""
        db = check_name(q.get("database"), "database")
        spec = await self.spec(db)
        try:
            table = spec.table(check_name(q.get("table"), "table"))
        except KeyError:
            raise IngestError(f"table {q.get('table')!r} is not registered in {db}", 404)
        if table.role != DIRECTOR:
            raise IngestError(f"{table.name} is not a director table")
        name = str(q.get("name") or "index")[:255]
        dialect = Dialect.from_query(q)
        # The file's columns, in order: the director key, chunkId, subChunkId (other names
        # are skipped); the index table calls the key `objectId` whatever its name.
        columns = q.get("columns", f"{table.director_key},chunkId,subChunkId").split(",")
        cols = ", ".join("`objectId`" if c == table.director_key else
                         f"`{c}`" if c in ("chunkId", "subChunkId") else "@skip" for c in columns)
        with tempfile.NamedTemporaryFile(suffix=".idx") as f:
            async for piece in body:
                f.write(piece)
            f.flush()
            stage = index_stage_table(db, table.name)

            def load(m: MetadataStore):
                # No index: a bulk load at disk speed (a file sent again is rare: its
                # DELETE may scan).
                m.execute(f"CREATE TABLE IF NOT EXISTS {stage} (objectId BIGINT NOT NULL, "
                          "chunkId INT NOT NULL, subChunkId INT NOT NULL, "
                          "src VARCHAR(255) NOT NULL) ENGINE=MyISAM")
                m.execute(f"DELETE FROM {stage} WHERE src = %s", (name,))
                m.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
                try:
                    m.execute(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE {stage} "
                        f"FIELDS TERMINATED BY %s OPTIONALLY ENCLOSED BY %s ESCAPED BY %s "
                        f"LINES TERMINATED BY %s IGNORE {dialect.ignore_lines} LINES ({cols}) "
                        "SET src = %s",
                        (f.name, dialect.fields_terminated_by, dialect.fields_enclosed_by,
                         dialect.fields_escaped_by, dialect.lines_terminated_by, name))
                    warnings = m.execute("SHOW WARNINGS LIMIT 5")
                finally:
                    m.execute("SET SESSION sql_mode = DEFAULT")
                if warnings:
                    m.execute(f"DELETE FROM {stage} WHERE src = %s", (name,))
                    raise IngestError("index file: " + "; ".join(f"{w[2]}" for w in warnings))
                n = m.execute(f"SELECT COUNT(*) FROM {stage} WHERE src = %s", (name,))[0][0]
                m.execute(f"REPLACE INTO {META_DB}.ingest_index_files VALUES (%s, %s, %s, %s)",
                          (db, table.name, name, n))
                if not published:   # an index built earlier no longer holds every file
                    m.execute(f"DROP TABLE IF EXISTS {director_index_table(db, table.name)}")
                return n
            published = (await self.database_row(db))["state"] == "PUBLISHED"
            try:
                rows = await self.meta_apart(load)
            except pymysql.MySQLError as e:
                raise IngestError(f"index file {name}: MariaDB error {e.args[0]}: {e.args[-1]}")
        return {"index": {"database": db, "table": table.name, "name": name, "rows": rows}}

    async def build_index(self, db: str, table: str) -> dict:
        """Build the director index of `db.table` from its staged files now (the ingest does it
        right after staging them, beside the load), so that publish finds it built: staging
        another file drops it again, and publish then builds it."""
        spec = await self.spec(check_name(db, "database"))
        try:
            t = spec.table(check_name(table, "table"))
        except KeyError:
            raise IngestError(f"table {table!r} is not registered in {db}", 404)
        if t.role != DIRECTOR:
            raise IngestError(f"{t.name} is not a director table")
        if (await self.database_row(db))["state"] == "PUBLISHED":
            raise IngestError(f"{db} is published: its director index is built", 409)
        return {"index": await self._build_index(spec, t, {}, reuse=False)}

    async def _build_index(self, spec: DatabaseSpec, table: TableSpec,
                           placement: dict[int, list[str]], reuse: bool = True) -> dict:
        """`reuse`: an index built from the staged files already (build_index) is kept."""
        final = director_index_table(spec.name, table.name)
        staged = await self.sql(f"SELECT COUNT(*) FROM {META_DB}.ingest_index_files "
                                "WHERE db = %s AND tbl = %s", (spec.name, table.name))
        # MyISAM: built once, read only; bulk-filled in key order far faster than InnoDB in
        # the czar's small buffer pool.
        create = (f"CREATE TABLE {final} (objectId BIGINT NOT NULL PRIMARY KEY, "
                  "chunkId INT NOT NULL, subChunkId INT NOT NULL) ENGINE=MyISAM")
        if staged[0][0]:
            stage = index_stage_table(spec.name, table.name)

            def build(m: MetadataStore):
                if reuse and m.execute("SELECT 1 FROM information_schema.TABLES WHERE "
                                       "TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                                       (META_DB, final.split("`")[3])):
                    return m.execute(f"SELECT COUNT(*) FROM {final}")[0][0]
                m.execute(f"DROP TABLE IF EXISTS {final}")
                m.execute(create)
                try:
                    m.execute(f"INSERT INTO {final} SELECT objectId, chunkId, subChunkId "
                              f"FROM {stage} ORDER BY objectId")
                except pymysql.err.IntegrityError as e:
                    m.execute(f"DROP TABLE IF EXISTS {final}")
                    raise IngestError(f"director index of {table.name}: duplicate key ({e.args[-1]})", 409)
                return m.execute(f"SELECT COUNT(*) FROM {final}")[0][0]
            return {"table": table.name, "source": "index files",
                    "rows": await self.meta_apart(build)}
        # No index file: read (key, chunkId, subChunkId) from the workers' chunk tables.
        by_worker: dict[str, list[int]] = defaultdict(list)
        for c, ws in placement.items():
            by_worker[ws[0]].append(c)
        with tempfile.NamedTemporaryFile(suffix=".tsv") as f:
            for w, chunks in by_worker.items():
                call = self.stub(w).RunChunkQuery(pb.ChunkQueryRequest(
                    query_id=f"index-{spec.name}-{table.name}", database=spec.name,
                    sql_template=f"SELECT `{table.director_key}`, chunkId, subChunkId FROM "
                                 f"`{spec.name}`.`{table.name}_{CHUNK_MARKER}`",
                    chunk_marker=CHUNK_MARKER, chunk_ids=sorted(chunks)))
                async for batch in call:
                    f.write(batch.tsv)
            f.flush()

            def build(m: MetadataStore):
                m.execute(f"DROP TABLE IF EXISTS {final}")
                m.execute(create)
                m.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {final}", (f.name,))
                return m.execute(f"SELECT COUNT(*) FROM {final}")[0][0]
            return {"table": table.name, "source": "workers", "rows": await self.meta(build)}

    # ---- publish -------------------------------------------------------------------------
    async def allocated_chunks(self, db: str) -> dict[int, list[str]]:
        """chunk -> workers, as allocated during the ingest of `db`."""
        placement: dict[int, list[str]] = defaultdict(list)
        for c, w in await self.sql(f"SELECT chunk_id, worker FROM {META_DB}.ingest_chunks "
                                   "WHERE db = %s", (db,)):
            placement[c].append(w)
        return placement

    async def publish(self, db: str) -> dict:
        db = check_name(db, "database")
        row = await self.database_row(db)
        if row["state"] == "PUBLISHED":
            return {"database": row, "already_published": True}
        open_trans = [t["id"] for t in await self.transactions(db) if t["state"] in (STARTED, ABORTING)]
        if open_trans:
            raise IngestError(f"{db} has open transactions {open_trans}: commit or abort them "
                              "before publishing", 409)
        spec = await self.spec(db)
        started = time.monotonic()
        placement = await self.allocated_chunks(db)
        # Every partitioned table exists in every chunk (queries name them all), replicated
        # tables on every worker, even where no contribution created them.
        # Only the tables a worker lacks (the loads created most: thousands of CREATE TABLE
        # IF NOT EXISTS on existing tables took seconds).
        existing = {w: set(tables) for w, tables in (await self.worker_counts(db)).items()}
        per_worker: dict[str, list[str]] = {w.name: [f"CREATE DATABASE IF NOT EXISTS `{db}`"]
                                            for w in self.config.workers}

        def need(w: str, t: TableSpec, name: str) -> None:
            if name not in existing.get(w, ()):
                per_worker[w].append(t.ddl(db, name, transactional=True))
        for c, ws in placement.items():
            for t in spec.tables:
                if not t.partitioned:
                    continue
                for w in ws:
                    need(w, t, t.chunk_table(c))
                    if t.role == DIRECTOR:
                        need(w, t, t.overlap_table(c))
        for w in per_worker:
            for t in spec.tables:
                if not t.partitioned:
                    need(w, t, t.name)
        await asyncio.gather(*(self.stub(w).ExecuteDdl(pb.DdlRequest(statements=stmts), timeout=600)
                               for w, stmts in per_worker.items()))
        indexes = [await self._build_index(spec, t, placement)
                   for t in spec.tables if t.role == DIRECTOR]

        def flip(m: MetadataStore):
            m.execute(f"DELETE FROM {META_DB}.chunks WHERE db = %s", (db,))
            rows = [(db, c, w) for c, ws in placement.items() for w in ws]
            with m.conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {META_DB}.chunks VALUES (%s, %s, %s)", rows)
            m.execute(f"UPDATE {META_DB}.ingest_dbs SET state = 'PUBLISHED', published = %s "
                      "WHERE db = %s", (time.time(), db))
            m.publish(db)   # the flag queries look at, and the version bump
        await self.meta(flip)
        return {"database": await self.database_row(db), "chunks": len(placement),
                "director_index": indexes, "seconds": round(time.monotonic() - started, 3)}

    # ---- status and validation -----------------------------------------------------------
    async def status(self, db: str) -> dict:
        row = await self.database_row(db)
        spec = await self.spec(db)
        trans = await self.sql(f"SELECT state, COUNT(*) FROM {META_DB}.ingest_trans WHERE db = %s "
                               "GROUP BY state", (db,))
        contrib = await self.sql(f"SELECT status, COUNT(*), SUM(`rows`), SUM(bytes) FROM "
                                 f"{META_DB}.ingest_contrib WHERE db = %s GROUP BY status", (db,))
        committed = await self.sql(
            f"SELECT c.tbl, SUM(IF(c.overlap, 0, c.`rows`)), SUM(c.bytes), SUM(IF(c.overlap, c.`rows`, 0)) "
            f"FROM {META_DB}.ingest_contrib c JOIN "
            f"{META_DB}.ingest_trans t ON t.id = c.trans_id WHERE c.db = %s AND t.state = %s "
            "AND c.status = %s GROUP BY c.tbl", (db, COMMITTED, FINISHED))
        chunks = await self.sql(f"SELECT worker, COUNT(*) FROM {META_DB}.ingest_chunks WHERE db = %s "
                                "GROUP BY worker", (db,))
        steps = await self.sql(f"SELECT step, state, seconds, detail, updated FROM "
                               f"{META_DB}.ingest_steps WHERE db = %s ORDER BY updated", (db,))
        open_trans = await self.transactions(db, STARTED) + await self.transactions(db, ABORTING)
        return {"database": {
            **row, "chunk_order": spec.chunk_order, "subchunk_bits": spec.subchunk_bits,
            "overlap": spec.overlap_deg, "tables": [_table_json(t) for t in spec.tables],
            "transactions": {s: n for s, n in trans},
            "open_transactions": open_trans,
            "contributions": {s: {"count": n, "rows": int(r or 0), "bytes": int(b or 0)}
                              for s, n, r, b in contrib},
            "committed_rows": {t: int(r or 0) for t, r, _, _ in committed},
            "committed_overlap_rows": {t: int(o or 0) for t, _, _, o in committed if o},
            "committed_bytes": sum(int(b or 0) for _, _, b, _ in committed),
            "chunks_per_worker": {w: n for w, n in chunks},
            "steps": [{"step": s, "state": st, "seconds": sec, "detail": d, "updated": u}
                      for s, st, sec, d, u in steps],
        }}

    async def list_databases(self) -> dict:
        rows = await self.sql(f"SELECT db, replication, state, created, published FROM "
                              f"{META_DB}.ingest_dbs ORDER BY db")
        return {"databases": [dict(database=r[0], replication=r[1], state=r[2], created=r[3],
                                   published_at=r[4]) for r in rows]}

    async def record_step(self, db: str, step: str, body: dict) -> dict:
        await self.database_row(db)
        check_name(step, "step")
        await self.sql(f"REPLACE INTO {META_DB}.ingest_steps VALUES (%s, %s, %s, %s, %s, %s)",
                       (db, step, str(body.get("state", "DONE"))[:16], body.get("seconds"),
                        json.dumps(body.get("detail")) if body.get("detail") is not None else None,
                        time.time()))
        return {"step": {"database": db, "step": step, "state": body.get("state", "DONE")}}

    async def worker_counts(self, db: str) -> dict[str, dict[str, int]]:
        """worker -> worker table -> rows (all transaction partitions)."""
        async def one(w: str):
            reply = await self.stub(w).TableCounts(pb.TableCountsRequest(database=db), timeout=300)
            out: dict[str, int] = defaultdict(int)
            for c in reply.counts:
                out[c.table] += c.rows
            return w, dict(out)
        return dict(await asyncio.gather(*(one(w.name) for w in self.config.workers)))

    async def validate(self, db: str, body: dict) -> dict:
        """Row counts on workers vs the manifest (`expected`: table -> chunk -> rows, `overlap`
        likewise, `replicated`: table -> rows), or vs the committed contributions when no
        manifest is given; the director index vs the director rows."""
        spec = await self.spec(db)
        started = time.monotonic()
        placement = await self.allocated_chunks(db)
        expected: dict[tuple[str, int | None, bool], int] = defaultdict(int)
        source = "manifest"
        if body.get("expected") or body.get("replicated"):
            for t, per_chunk in (body.get("expected") or {}).items():
                for c, n in per_chunk.items():
                    expected[(t, int(c), False)] += int(n)
            for t, per_chunk in (body.get("overlap") or {}).items():
                for c, n in per_chunk.items():
                    expected[(t, int(c), True)] += int(n)
            for t, n in (body.get("replicated") or {}).items():
                expected[(t, None, False)] += int(n)
        else:
            source = "contributions"
            for t, c, ov, n in await self.sql(
                    f"SELECT c.tbl, c.chunk, c.overlap, SUM(c.`rows`) FROM {META_DB}.ingest_contrib c "
                    f"JOIN {META_DB}.ingest_trans t ON t.id = c.trans_id WHERE c.db = %s AND "
                    "t.state = %s AND c.status = %s GROUP BY c.tbl, c.chunk, c.overlap",
                    (db, COMMITTED, FINISHED)):
                expected[(t, c, bool(ov))] += int(n)
        counts = await self.worker_counts(db)
        differences, checked = [], 0
        actual_total: dict[str, int] = defaultdict(int)
        director_per_chunk: dict[str, dict[int, int]] = defaultdict(dict)
        for t in spec.tables:
            if t.partitioned:
                keys = [(c, False) for c in placement] + \
                       ([(c, True) for c in placement] if t.role == DIRECTOR else [])
                for c, ov in sorted(keys):
                    name = t.overlap_table(c) if ov else t.chunk_table(c)
                    want = expected.get((t.name, c, ov), 0)
                    for i, w in enumerate(sorted(placement[c])):
                        got = counts[w].get(name)
                        checked += 1
                        if got is None:
                            differences.append({"table": t.name, "chunk": c, "overlap": ov,
                                                "worker": w, "expected": want, "actual": None,
                                                "problem": "table missing on worker"})
                        elif got != want:
                            differences.append({"table": t.name, "chunk": c, "overlap": ov,
                                                "worker": w, "expected": want, "actual": got})
                        if i == 0 and not ov and got is not None:
                            actual_total[t.name] += got
                            if t.role == DIRECTOR:
                                director_per_chunk[t.name][c] = got
                for (tn, c, ov), want in expected.items():
                    if tn == t.name and c is not None and c not in placement and want:
                        differences.append({"table": t.name, "chunk": c, "overlap": ov,
                                            "expected": want, "actual": 0,
                                            "problem": "chunk not placed on any worker"})
            else:
                want = expected.get((t.name, None, False), 0)
                for w in sorted(counts):
                    got = counts[w].get(t.name)
                    checked += 1
                    if got != want:
                        differences.append({"table": t.name, "worker": w, "expected": want,
                                            "actual": got})
                actual_total[t.name] = counts[sorted(counts)[0]].get(t.name, 0) if counts else 0
        index_report = []
        for t in spec.tables:
            if t.role != DIRECTOR:
                continue
            try:
                per_chunk = dict(await self.sql(
                    f"SELECT chunkId, COUNT(*) FROM {director_index_table(db, t.name)} GROUP BY chunkId"))
            except pymysql.err.ProgrammingError:
                differences.append({"table": t.name, "problem": "no director index"})
                continue
            rows = sum(per_chunk.values())
            index_report.append({"table": t.name, "entries": rows,
                                 "director_rows": sum(director_per_chunk[t.name].values())})
            for c in sorted(set(per_chunk) | set(director_per_chunk[t.name])):
                a, b = per_chunk.get(c, 0), director_per_chunk[t.name].get(c, 0)
                checked += 1
                if a != b:
                    differences.append({"table": t.name, "chunk": c, "problem": "director index",
                                        "index_entries": a, "director_rows": b})
        return {"validation": {
            "database": db, "ok": not differences, "compared_with": source, "checks": checked,
            "differences": differences[:200], "n_differences": len(differences),
            "rows": dict(actual_total), "director_index": index_report,
            "seconds": round(time.monotonic() - started, 3)}}


def _same_table(a: TableSpec, b: TableSpec) -> bool:
    return _table_json(a) == _table_json(b)


def _table_json(t: TableSpec) -> dict:
    return {"table": t.name, "role": t.role, "is_partitioned": int(t.partitioned),
            "director_table": t.director_table, "director_key": t.director_key,
            "ra": t.ra, "dec": t.dec, "primary_key": t.primary_key, "indexes": t.indexes,
            "schema": [{"name": c.name, "type": c.type} for c in t.columns]}


def _trans_json(r) -> dict:
    return {"id": r[0], "database": r[1], "state": r[2], "context": r[3], "begin_time": r[4],
            "end_time": r[5], "error": r[6]}
