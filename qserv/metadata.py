"""Catalog metadata kept in the czar's MariaDB (database `qservMeta`).

What lives here: each user database's `DatabaseSpec` (tables, roles, partitioning), where each
chunk is placed, a version counter that the czar polls to refresh its cached view, and the
workers that registered with the czar (name, address, health: czar/membership.py).

Next to the metadata, each user database also exists in the czar's MariaDB as a "shadow":
the same tables, empty. The czar runs every user query there first, which gives exactly
MariaDB's own errors (1054, 1146, 1064, ...), column names and types at no cost, and serves
SHOW / DESCRIBE / information_schema with MariaDB's own answers. Sessions reach the shadows
through the SELECT-only account `SHADOW_USER`, so nothing a client sends can change them.
"""

from __future__ import annotations

from collections import defaultdict

import pymysql

from qserv import scisql
from qserv.catalog import DatabaseSpec

META_DB = "qservMeta"
RESULT_DB = "qservResult"
SHADOW_USER = "qsshadow"
INTERNAL_DBS = {META_DB.lower(), RESULT_DB.lower(), "mysql", "information_schema",
                "performance_schema", "sys"}

SCHEMA = [
    f"CREATE DATABASE IF NOT EXISTS {META_DB}",
    f"CREATE DATABASE IF NOT EXISTS {RESULT_DB}",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.dbs (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        spec LONGTEXT NOT NULL,
        published TINYINT NOT NULL DEFAULT 0) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.chunks (
        db VARCHAR(64) NOT NULL, chunk_id INT NOT NULL, worker VARCHAR(64) NOT NULL,
        PRIMARY KEY (db, chunk_id, worker)) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.version (
        id INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB""",
    f"INSERT IGNORE INTO {META_DB}.version VALUES (1, 0)",
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.workers (
        name VARCHAR(64) NOT NULL PRIMARY KEY, host VARCHAR(255) NOT NULL,
        grpc_port INT NOT NULL, mariadb_port INT NOT NULL,
        first_seen DOUBLE NOT NULL, last_seen DOUBLE NOT NULL,
        healthy TINYINT NOT NULL, detail VARCHAR(1024) NOT NULL DEFAULT '') ENGINE=InnoDB""",
    # The real size of each user table (the czar's own copies are empty shadows): rows and
    # bytes summed over its chunk tables on the workers (one copy), recorded at publish and
    # on demand; information_schema.TABLES and SHOW TABLE STATUS read them (czar/table_stats.py).
    f"""CREATE TABLE IF NOT EXISTS {META_DB}.table_stats (
        db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL, `rows` BIGINT NOT NULL,
        data_bytes BIGINT NOT NULL, index_bytes BIGINT NOT NULL, updated DOUBLE NOT NULL,
        PRIMARY KEY (db, tbl)) ENGINE=InnoDB""",
    f"CREATE USER IF NOT EXISTS '{SHADOW_USER}'@'localhost' IDENTIFIED BY ''",
    f"GRANT SELECT ON {META_DB}.table_stats TO '{SHADOW_USER}'@'localhost'",
]


def director_index_table(db: str, table: str) -> str:
    """Where the director index of `db.table` lives in the czar's MariaDB."""
    return f"`{META_DB}`.`dirindex__{db}__{table}`"


class MetadataStore:
    """Synchronous access for the CLI and loader (the czar reads the same tables asynchronously)."""

    def __init__(self, conn: pymysql.connections.Connection):
        self.conn = conn

    def execute(self, sql: str, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def initialize(self) -> None:
        for stmt in SCHEMA:
            self.execute(stmt)

    def bump_version(self) -> None:
        self.execute(f"UPDATE {META_DB}.version SET v = v + 1 WHERE id = 1")

    def register_database(self, spec: DatabaseSpec) -> None:
        """Record the spec and (re)create the empty shadow tables the czar validates against."""
        if spec.name.lower() in INTERNAL_DBS:
            raise ValueError(f"{spec.name!r} is a reserved database name")
        self.execute(f"CREATE DATABASE IF NOT EXISTS `{spec.name}`")
        for t in spec.tables:
            self.execute(f"DROP TABLE IF EXISTS `{spec.name}`.`{t.name}`")
            self.execute(t.ddl(spec.name, engine="MyISAM"))
        for stmt in scisql.install_statements(spec.name):  # queries that call them validate
            self.execute(stmt)
        self.execute(f"GRANT SELECT, SHOW VIEW, EXECUTE ON `{spec.name}`.* TO '{SHADOW_USER}'@'localhost'")
        self.execute(f"REPLACE INTO {META_DB}.dbs (name, spec, published) VALUES (%s, %s, 0)",
                     (spec.name, spec.to_json()))
        self.bump_version()

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")
        self.execute(f"DELETE FROM {META_DB}.dbs WHERE name = %s", (name,))
        self.execute(f"DELETE FROM {META_DB}.chunks WHERE db = %s", (name,))
        self.execute(f"DELETE FROM {META_DB}.table_stats WHERE db = %s", (name,))
        self.bump_version()

    def set_placement(self, db: str, placement: dict[int, list[str]]) -> None:
        self.execute(f"DELETE FROM {META_DB}.chunks WHERE db = %s", (db,))
        rows = [(db, c, w) for c, workers in placement.items() for w in workers]
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {META_DB}.chunks VALUES (%s, %s, %s)", rows)
        self.bump_version()

    def store_director_index(self, db: str, table: str, keys, chunks, subchunks) -> int:
        """(Re)build the director index of `db.table` (object id -> chunkId, subChunkId) from
        arrays, with one bulk LOAD DATA; returns its row count."""
        import tempfile

        import numpy as np
        name = director_index_table(db, table)
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TABLE {name} (objectId BIGINT NOT NULL PRIMARY KEY, "
                     "chunkId INT NOT NULL, subChunkId INT NOT NULL) ENGINE=InnoDB")
        data = np.column_stack([np.asarray(keys, np.int64), np.asarray(chunks, np.int64),
                                np.asarray(subchunks, np.int64)])
        with tempfile.NamedTemporaryFile(suffix=".tsv") as f:
            np.savetxt(f, data, fmt="%d", delimiter="\t")
            f.flush()
            self.execute(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {name}")
        return len(data)

    def publish(self, db: str) -> None:
        self.execute(f"UPDATE {META_DB}.dbs SET published = 1 WHERE name = %s", (db,))
        self.bump_version()

    def databases(self) -> dict[str, DatabaseSpec]:
        return {name: DatabaseSpec.from_json(spec)
                for name, spec in self.execute(f"SELECT name, spec FROM {META_DB}.dbs")}

    def placement(self, db: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for chunk, worker in self.execute(
                f"SELECT chunk_id, worker FROM {META_DB}.chunks WHERE db = %s ORDER BY chunk_id", (db,)):
            out[chunk].append(worker)
        return dict(out)

