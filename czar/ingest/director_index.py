"""The director index: staged from the partitioner's index files, built at publish. A part of
`IngestController` (controller.py)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from typing import AsyncIterator

import pymysql

from czar.ingest.schema import Dialect, IngestError, check_name, index_stage_table
from qserv.catalog import CHUNK_MARKER, DIRECTOR, DatabaseSpec, TableSpec
from qserv.metadata import META_DB, MetadataStore, director_index_table
from qserv.v1 import worker_pb2 as pb


class DirectorIndex:
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
