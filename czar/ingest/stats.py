"""The real size of each table of a published database: rows, data and index bytes summed over
its chunk tables on the workers (one copy of each chunk; overlap rows not counted: they are
copies), or one worker's copy of a replicated table. Recorded at publish and on demand
(`POST /ingest/database/{db}/stats`) in `qservMeta.table_stats`, where the czar's
information_schema.TABLES and SHOW TABLE STATUS read them (czar/table_stats.py): the czar's own
copies of the tables are empty shadows. A part of `IngestController` (controller.py)."""

from __future__ import annotations

import time

from qserv.catalog import DatabaseSpec
from qserv.metadata import META_DB, MetadataStore


def table_sizes(spec: DatabaseSpec, placement: dict[int, list[str]],
                sizes: dict[str, dict[str, list[int]]]) -> dict[str, list[int]]:
    """table -> [rows, data bytes, index bytes] from the workers' `sizes` (worker_sizes)."""
    out: dict[str, list[int]] = {}
    for t in spec.tables:
        total = [0, 0, 0]
        if t.partitioned:
            for c, workers in placement.items():
                size = sizes.get(sorted(workers)[0], {}).get(t.chunk_table(c))
                for i, v in enumerate(size or ()):
                    total[i] += v
        elif sizes:
            total = list(sizes[sorted(sizes)[0]].get(t.name, total))
        out[t.name] = total
    return out


class TableStatistics:
    async def record_stats(self, db: str) -> dict:
        """Count now and keep the sizes; returns them per table."""
        return await self.store_stats(db, await self.spec(db), await self.allocated_chunks(db),
                                      await self.worker_sizes(db))

    async def store_stats(self, db: str, spec: DatabaseSpec, placement: dict[int, list[str]],
                          worker_sizes: dict) -> dict:
        sizes = table_sizes(spec, placement, worker_sizes)
        now = time.time()

        def store(m: MetadataStore):
            m.execute(f"DELETE FROM {META_DB}.table_stats WHERE db = %s", (db,))
            with m.conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {META_DB}.table_stats VALUES (%s, %s, %s, %s, %s, %s)",
                                [(db, t, *s, now) for t, s in sizes.items()])
        await self.meta(store)
        return {"database": db, "tables": {t: {"rows": s[0], "data_bytes": s[1], "index_bytes": s[2]}
                                           for t, s in sizes.items()}}
