"""The czar's cached view of `qservMeta`, refreshed when the metadata version changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from qserv.catalog import DatabaseSpec, TableSpec
from qserv.metadata import META_DB


@dataclass
class CatalogView:
    version: int = -1
    databases: dict[str, DatabaseSpec] = field(default_factory=dict)   # lower-case name -> spec
    published: set[str] = field(default_factory=set)
    placement: dict[str, dict[int, list[str]]] = field(default_factory=dict)

    def database(self, name: str) -> DatabaseSpec | None:
        return self.databases.get(name.lower())

    def table(self, db: str, name: str) -> TableSpec | None:
        spec = self.database(db)
        if spec is None:
            return None
        try:
            return spec.table(name)
        except KeyError:
            return None


class CatalogCache:
    def __init__(self):
        self.view = CatalogView()

    async def refresh(self, conn) -> CatalogView:
        """Re-read metadata only when its version moved (one tiny query otherwise)."""
        async with conn.cursor() as cur:
            await cur.execute(f"SELECT v FROM {META_DB}.version WHERE id = 1")
            row = await cur.fetchone()
            version = row[0] if row else 0
            if version == self.view.version:
                return self.view
            await cur.execute(f"SELECT name, spec, published FROM {META_DB}.dbs")
            dbs = await cur.fetchall()
            await cur.execute(f"SELECT db, chunk_id, worker FROM {META_DB}.chunks")
            chunks = await cur.fetchall()
        view = CatalogView(version=version)
        for name, spec, published in dbs:
            view.databases[name.lower()] = DatabaseSpec.from_json(spec)
            if published:
                view.published.add(name.lower())
        placement: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for db, chunk, worker in chunks:
            placement[db.lower()][chunk].append(worker)
        view.placement = {db: dict(p) for db, p in placement.items()}
        self.view = view
        return view
