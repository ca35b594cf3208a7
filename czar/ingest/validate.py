"""Validation: row counts per table on the workers against the committed contributions. A part of
`IngestController` (controller.py)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pymysql

from czar.ingest.schema import COMMITTED, FINISHED
from qserv.catalog import DIRECTOR, TableSpec
from qserv.metadata import META_DB, director_index_table
from qserv.v1 import worker_pb2 as pb


class Validation:
    async def worker_sizes(self, db: str) -> dict[str, dict[str, list[int]]]:
        """worker -> worker table -> [rows, data bytes, index bytes] (all transaction
        partitions)."""
        async def one(w: str):
            reply = await self.stub(w).TableCounts(pb.TableCountsRequest(database=db), timeout=300)
            out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for c in reply.counts:
                size = out[c.table]
                size[0] += c.rows
                size[1] += c.data_bytes
                size[2] += c.index_bytes
            return w, dict(out)
        return dict(await asyncio.gather(*(one(w.name) for w in self.config.workers)))

    async def worker_counts(self, db: str) -> dict[str, dict[str, int]]:
        """worker -> worker table -> rows (all transaction partitions)."""
        return {w: {t: size[0] for t, size in tables.items()}
                for w, tables in (await self.worker_sizes(db)).items()}

    async def validate(self, db: str, body: dict) -> dict:
        """Row counts on workers vs the manifest (`expected`: table -> chunk -> rows, `overlap`
        likewise, `replicated`: table -> rows), or vs the committed contributions when no
        manifest is given; the director index vs the director rows."""
        spec = await self.spec(db)
        started = time.monotonic()
        placement = await self.allocated_chunks(db)
        expected, source = await self._expected_counts(db, body)
        tally = _Tally()
        counts = await self.worker_counts(db)
        for t in spec.tables:
            if t.partitioned:
                _compare_chunk_tables(t, placement, counts, expected, tally)
            else:
                _compare_replicated(t, counts, expected, tally)
        index_report = [await self._check_index(db, t, tally)
                        for t in spec.tables if t.role == DIRECTOR]
        differences = tally.differences
        return {"validation": {
            "database": db, "ok": not differences, "compared_with": source,
            "checks": tally.checked, "differences": differences[:200],
            "n_differences": len(differences), "rows": dict(tally.rows),
            "director_index": [r for r in index_report if r is not None],
            "seconds": round(time.monotonic() - started, 3)}}

    async def _expected_counts(self, db: str, body: dict) -> tuple[dict, str]:
        """(table, chunk or None, overlap) -> rows, from the manifest the client sent, else
        from the committed contributions; and which of the two it is."""
        expected: dict[tuple[str, int | None, bool], int] = defaultdict(int)
        if body.get("expected") or body.get("replicated"):
            for key, overlap in (("expected", False), ("overlap", True)):
                for t, per_chunk in (body.get(key) or {}).items():
                    for c, n in per_chunk.items():
                        expected[(t, int(c), overlap)] += int(n)
            for t, n in (body.get("replicated") or {}).items():
                expected[(t, None, False)] += int(n)
            return expected, "manifest"
        for t, c, ov, n in await self.sql(
                f"SELECT c.tbl, c.chunk, c.overlap, SUM(c.`rows`) FROM {META_DB}.ingest_contrib c "
                f"JOIN {META_DB}.ingest_trans t ON t.id = c.trans_id WHERE c.db = %s AND "
                "t.state = %s AND c.status = %s GROUP BY c.tbl, c.chunk, c.overlap",
                (db, COMMITTED, FINISHED)):
            expected[(t, c, bool(ov))] += int(n)
        return expected, "contributions"

    async def _check_index(self, db: str, t: TableSpec, tally: "_Tally") -> dict | None:
        """The director index of `t` against its rows counted on the workers, per chunk."""
        try:
            per_chunk = dict(await self.sql(
                f"SELECT chunkId, COUNT(*) FROM {director_index_table(db, t.name)} GROUP BY chunkId"))
        except pymysql.err.ProgrammingError:
            tally.differences.append({"table": t.name, "problem": "no director index"})
            return None
        director = tally.director_per_chunk[t.name]
        for c in sorted(set(per_chunk) | set(director)):
            a, b = per_chunk.get(c, 0), director.get(c, 0)
            tally.checked += 1
            if a != b:
                tally.differences.append({"table": t.name, "chunk": c, "problem": "director index",
                                          "index_entries": a, "director_rows": b})
        return {"table": t.name, "entries": sum(per_chunk.values()),
                "director_rows": sum(director.values())}


@dataclass
class _Tally:
    """What a validation found so far."""
    differences: list = field(default_factory=list)
    checked: int = 0
    rows: dict = field(default_factory=lambda: defaultdict(int))        # table -> rows (first copy)
    director_per_chunk: dict = field(default_factory=lambda: defaultdict(dict))


def _compare_chunk_tables(t: TableSpec, placement: dict, counts: dict, expected: dict,
                          tally: _Tally) -> None:
    """Every chunk table (and overlap table) of `t` on every worker holding the chunk."""
    keys = [(c, False) for c in placement] + \
           ([(c, True) for c in placement] if t.role == DIRECTOR else [])
    for c, ov in sorted(keys):
        name = t.overlap_table(c) if ov else t.chunk_table(c)
        want = expected.get((t.name, c, ov), 0)
        for i, w in enumerate(sorted(placement[c])):
            got = counts[w].get(name)
            tally.checked += 1
            if got is None:
                tally.differences.append({"table": t.name, "chunk": c, "overlap": ov, "worker": w,
                                          "expected": want, "actual": None,
                                          "problem": "table missing on worker"})
            elif got != want:
                tally.differences.append({"table": t.name, "chunk": c, "overlap": ov, "worker": w,
                                          "expected": want, "actual": got})
            if i == 0 and not ov and got is not None:
                tally.rows[t.name] += got
                if t.role == DIRECTOR:
                    tally.director_per_chunk[t.name][c] = got
    for (tn, c, ov), want in expected.items():
        if tn == t.name and c is not None and c not in placement and want:
            tally.differences.append({"table": t.name, "chunk": c, "overlap": ov, "expected": want,
                                      "actual": 0, "problem": "chunk not placed on any worker"})


def _compare_replicated(t: TableSpec, counts: dict, expected: dict, tally: _Tally) -> None:
    """A replicated table: the same rows on every worker."""
    want = expected.get((t.name, None, False), 0)
    for w in sorted(counts):
        got = counts[w].get(t.name)
        tally.checked += 1
        if got != want:
            tally.differences.append({"table": t.name, "worker": w, "expected": want, "actual": got})
    tally.rows[t.name] = counts[sorted(counts)[0]].get(t.name, 0) if counts else 0
