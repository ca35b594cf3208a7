"""Publish (the database becomes visible to queries), status, recorded steps. A part of
`IngestController` (controller.py)."""

from __future__ import annotations

import asyncio
import json
import time

from czar.ingest.schema import (ABORTING, COMMITTED, FINISHED, STARTED, IngestError, _table_json,
                                check_name)
from qserv import scisql
from qserv.catalog import DIRECTOR, TableSpec
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2 as pb


class Publishing:
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
        sizes = await self.worker_sizes(db)
        existing = {w: set(tables) for w, tables in sizes.items()}
        # and the scisql functions chunk queries call (scisql_fluxToAbMag ...: 1305 before)
        per_worker: dict[str, list[str]] = {
            w.name: [f"CREATE DATABASE IF NOT EXISTS `{db}`", *scisql.install_statements(db)]
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
        await self.store_stats(db, spec, placement, sizes)   # (tables created here are empty)
        await self.meta(flip)
        return {"database": await self.database_row(db), "chunks": len(placement),
                "director_index": indexes, "seconds": round(time.monotonic() - started, 3)}

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

    async def record_step(self, db: str, step: str, body: dict) -> dict:
        await self.database_row(db)
        check_name(step, "step")
        await self.sql(f"REPLACE INTO {META_DB}.ingest_steps VALUES (%s, %s, %s, %s, %s, %s)",
                       (db, step, str(body.get("state", "DONE"))[:16], body.get("seconds"),
                        json.dumps(body.get("detail")) if body.get("detail") is not None else None,
                        time.time()))
        return {"step": {"database": db, "step": step, "state": body.get("state", "DONE")}}
