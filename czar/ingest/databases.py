"""Databases and tables: registration, deletion, chunk allocation (placement), the list. A part of
`IngestController` (controller.py)."""

from __future__ import annotations

import copy
import time
from collections import defaultdict

from czar.ingest.schema import (ABORTING, STARTED, IngestError, _same_table, _table_json,
                                check_name, index_stage_table)
from qserv.catalog import (CHILD, CHUNK_COLUMNS, DIRECTOR, REPLICATED, ROLES, ColumnSpec,
                           DatabaseSpec, TableSpec)
from qserv.metadata import INTERNAL_DBS, META_DB, MetadataStore, director_index_table
from qserv.v1 import worker_pb2 as pb


class Databases:
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
                director_table=body.get("director_table") or None,
                placed_by_position=_count_or_none(body.get("placed_by_position")),
                position_margin=_margin(body.get("position_margin")))
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

    async def allocated_chunks(self, db: str) -> dict[int, list[str]]:
        """chunk -> workers, as allocated during the ingest of `db`."""
        placement: dict[int, list[str]] = defaultdict(list)
        for c, w in await self.sql(f"SELECT chunk_id, worker FROM {META_DB}.ingest_chunks "
                                   "WHERE db = %s", (db,)):
            placement[c].append(w)
        return placement

    async def list_databases(self) -> dict:
        rows = await self.sql(f"SELECT db, replication, state, created, published FROM "
                              f"{META_DB}.ingest_dbs ORDER BY db")
        return {"databases": [dict(database=r[0], replication=r[1], state=r[2], created=r[3],
                                   published_at=r[4]) for r in rows]}


def _count_or_none(value) -> int | None:
    """A row count sent with a table (`placed_by_position`); None when absent or not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _margin(value) -> float | None:
    """A table's `position_margin` as sent (degrees, or absent/null)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise IngestError(f"position_margin must be a number of degrees, not {value!r}") from None
