"""The ingest controller's vocabulary: its tables in the czar's MariaDB (`SCHEMA`), the
error it raises (`IngestError`, carrying the HTTP status), names, the CSV dialect of a
contribution, and the JSON shapes of its answers."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

from czar.ingest.states import ContribState, TransState
from qserv.catalog import TableSpec
from qserv.metadata import META_DB

log = logging.getLogger("czar.ingest")

# the states by their short names (str values: they are what the tables store)
STARTED, COMMITTED, ABORTING, ABORTED = (TransState.STARTED, TransState.COMMITTED,
                                         TransState.ABORTING, TransState.ABORTED)
IN_PROGRESS, FINISHED, FAILED = ContribState.IN_PROGRESS, ContribState.FINISHED, ContribState.FAILED
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

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

    def fields(self) -> dict:
        """The dialect as the fields of a ContributionHeader or BundleHeader."""
        return dict(fields_terminated_by=self.fields_terminated_by,
                    fields_enclosed_by=self.fields_enclosed_by,
                    fields_escaped_by=self.fields_escaped_by,
                    lines_terminated_by=self.lines_terminated_by, ignore_lines=self.ignore_lines)

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


def _same_table(a: TableSpec, b: TableSpec) -> bool:
    return _table_json(a) == _table_json(b)


def _table_json(t: TableSpec) -> dict:
    return {"table": t.name, "role": t.role, "is_partitioned": int(t.partitioned),
            "director_table": t.director_table, "director_key": t.director_key,
            "ra": t.ra, "dec": t.dec, "position_margin": t.position_margin,
            "primary_key": t.primary_key, "indexes": t.indexes,
            "schema": [{"name": c.name, "type": c.type} for c in t.columns]}


def _trans_json(r) -> dict:
    return {"id": r[0], "database": r[1], "state": r[2], "context": r[3], "begin_time": r[4],
            "end_time": r[5], "error": r[6]}
