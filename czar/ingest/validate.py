"""Validation: row counts per table on the workers against the committed contributions.

A part of `IngestController` (czar/ingest/controller.py), which composes them; every
method reaches the czar's MariaDB and the workers through the controller's plumbing
(`meta`, `sql`, `stub`)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pymysql

from czar.ingest.schema import COMMITTED, FINISHED
from qserv.catalog import DIRECTOR
from qserv.metadata import META_DB, director_index_table
from qserv.v1 import worker_pb2 as pb


class Validation:
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
