"""Catalog description: databases, tables and their roles (director, child, replicated).

A `DatabaseSpec` is what an operator writes (JSON) to describe a catalog before loading it,
and what the czar keeps in its metadata. From it come the DDL of the worker chunk tables,
of the czar's empty "shadow" tables (used to validate and type queries), and of a plain
single-MariaDB copy (the oracle in tests and benchmarks).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

DIRECTOR, CHILD, REPLICATED = "director", "child", "replicated"
ROLES = (DIRECTOR, CHILD, REPLICATED)
CHUNK_COLUMNS = ("chunkId", "subChunkId")
CHUNK_MARKER = "__QSERV_CHUNK__"
# The ingest's transaction column on worker tables (INVISIBLE; see TableSpec.ddl).
TRANS_COLUMN = "qserv_trans_id"
# How `qserv load` ships rows (the partitioner's CSV output, partitioner/writers.py): CSV, every non-NULL value quoted,
# bare NULL for NULL. The LOAD DATA clause that reads it back:
LOAD_FORMAT = ("CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
               "ESCAPED BY '' LINES TERMINATED BY '\\n'")


@dataclass
class ColumnSpec:
    name: str
    type: str  # MariaDB column type, e.g. "DOUBLE NOT NULL"


@dataclass
class TableSpec:
    name: str
    role: str
    columns: list[ColumnSpec] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    indexes: list[list[str]] = field(default_factory=list)
    # Position columns (degrees). Director: required, they place its rows. Child: optional, its
    # own position (e.g. Source's ra/decl): spatial restrictors on the child alone then prune
    # chunks (widened by `position_margin`) and test these columns row by row; a row whose
    # director is missing is placed by them.
    ra: str | None = None
    dec: str | None = None
    director_key: str | None = None  # director: its object id; child: the column referring to it
    director_table: str | None = None  # child: the director table
    data: list[str] = field(default_factory=list)  # input files (CSV), relative to the spec file
    # Overlap radius in degrees for this table's rows (directors): None = the database's
    # `overlap_deg`; 0 = no overlap. Overlap rows go to `<name>FullOverlap_<chunk>`.
    overlap: float | None = None
    # How the input files are written (see partitioner.config.CsvDialect): delimiter, header,
    # null, quote, escape. None = CSV with a header line, `\N` for NULL, '"' quotes.
    csv: dict | None = None
    schema: str | None = None  # a CREATE TABLE file to take `columns` from (relative to the spec)
    # Child with position columns: the largest angle (degrees) between a row's own position and
    # the chunk it is placed in (its director's). The partitioner measures it (the manifest's
    # `position_margin`); a value given here must be at least that (the ingest refuses a smaller
    # one: it would prune chunks holding matching rows). None: not known (restrictors on this
    # table alone are refused).
    position_margin: float | None = None
    # Child with position columns: how many of its rows the partitioner placed by their own
    # position because their director is missing (the manifest's `placed_by_position`, sent at
    # registration). Such rows are in no director index, and two of them with one key may be
    # in two chunks. None: not known.
    placed_by_position: int | None = None

    def __post_init__(self):
        self.columns = [c if isinstance(c, ColumnSpec) else ColumnSpec(**c) for c in self.columns]
        if not self.columns and not self.schema:
            raise ValueError(f"table {self.name}: give its columns or a schema file")
        if self.role not in ROLES:
            raise ValueError(f"table {self.name}: role must be one of {ROLES}, not {self.role!r}")
        if self.role == DIRECTOR and not (self.ra and self.dec and self.director_key):
            raise ValueError(f"director table {self.name} needs ra, dec and director_key")
        if self.role == CHILD and not (self.director_key and self.director_table):
            raise ValueError(f"child table {self.name} needs director_key and director_table")
        if bool(self.ra) != bool(self.dec):
            raise ValueError(f"table {self.name}: give both position columns (ra and dec) or neither")
        if self.position_margin is not None:
            if self.role != CHILD or not self.ra:
                raise ValueError(f"table {self.name}: position_margin is for child tables with "
                                 "their own position columns (ra, dec)")
            m = float(self.position_margin)
            if not (0.0 <= m <= 180.0):
                raise ValueError(f"table {self.name}: position_margin must be within [0, 180] "
                                 f"degrees, not {self.position_margin!r}")
            self.position_margin = m

    @property
    def has_position(self) -> bool:
        """Rows of this table have a sky position of their own (director, or child declaring one)."""
        return bool(self.ra and self.dec)

    @property
    def keys_colocated(self) -> bool:
        """Every row with one director-key value is in one chunk, the chunk the director index
        names: a director's rows (placed by position, one each), a child's rows (placed with
        their director, or refused without one) unless some were placed by their own position."""
        if self.role == DIRECTOR:
            return True
        return self.role == CHILD and (not self.has_position or self.placed_by_position == 0)

    @property
    def partitioned(self) -> bool:
        return self.role != REPLICATED

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def chunk_table(self, chunk_id: int) -> str:
        return f"{self.name}_{chunk_id}" if self.partitioned else self.name

    def ddl(self, database: str, table_name: str | None = None, *, with_chunk_columns: bool = True,
            engine: str = "MyISAM", transactional: bool = False, trans_id: int = 0) -> str:
        """CREATE TABLE for this table. Partitioned tables get `chunkId`/`subChunkId` as
        INVISIBLE columns: queryable by name, absent from `SELECT *` (the original Qserv shows
        them, which breaks comparisons with a plain database).

        `transactional` (the ingest's worker tables) adds the INVISIBLE column `qserv_trans_id`
        and `PARTITION BY LIST (qserv_trans_id)` with one empty partition `p0` (transaction ids
        start at 1): each ingest transaction gets its own partition, so aborting it is one
        `ALTER TABLE ... DROP PARTITION`. Unique keys must hold the partitioning column, so it
        is appended to the primary key. `trans_id` names the first partition (`p0`, never used
        by a transaction, for tables created empty)."""
        lines = [f"`{c.name}` {c.type}" for c in self.columns]
        if self.partitioned and with_chunk_columns:
            lines += [f"`{c}` INT NOT NULL DEFAULT 0 INVISIBLE" for c in CHUNK_COLUMNS]
        if transactional:
            lines.append(f"`{TRANS_COLUMN}` INT NOT NULL DEFAULT 0 INVISIBLE")
        if self.primary_key:
            pk = list(self.primary_key) + ([TRANS_COLUMN] if transactional else [])
            lines.append("PRIMARY KEY (" + ", ".join(f"`{c}`" for c in pk) + ")")
        for cols in self.indexes:
            lines.append("KEY (" + ", ".join(_key_part(c) for c in cols) + ")")
        if self.partitioned and with_chunk_columns:
            lines.append("KEY (`subChunkId`)")
        name = table_name or self.name
        body = ",\n  ".join(lines)
        partitions = (f"\nPARTITION BY LIST (`{TRANS_COLUMN}`) "
                      f"(PARTITION p{int(trans_id)} VALUES IN ({int(trans_id)}))"
                      if transactional else "")
        return (f"CREATE TABLE IF NOT EXISTS `{database}`.`{name}` (\n  {body}\n) "
                f"ENGINE={engine} DEFAULT CHARSET=utf8mb4{partitions}")

    def overlap_table(self, chunk_id: int) -> str:
        """Where a director's overlap rows of `chunk_id` live on workers (Qserv's name)."""
        return f"{self.name}FullOverlap_{chunk_id}"


@dataclass
class DatabaseSpec:
    name: str
    tables: list[TableSpec]
    chunk_order: int = 5
    subchunk_bits: int = 3
    overlap_deg: float = 0.01667
    source_dir: str = "."  # where `data` files are, resolved when read from a file

    def __post_init__(self):
        self.tables = [t if isinstance(t, TableSpec) else TableSpec(**t) for t in self.tables]
        for t in self.tables:
            if not t.columns and t.schema:
                ddl = (Path(self.source_dir) / t.schema).read_text()
                t.columns = columns_from_ddl(ddl)
                pk = re.search(r"PRIMARY KEY\s*\(([^)]*)\)", ddl)
                if pk and not t.primary_key:
                    t.primary_key = [c.strip(" `") for c in pk.group(1).split(",")]
                if not t.indexes:
                    t.indexes = keys_from_ddl(ddl)
        names = {t.name for t in self.tables}
        for t in self.tables:
            if t.role == CHILD and t.director_table not in names:
                raise ValueError(f"child table {t.name}: director {t.director_table} is not in the spec")

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name.lower() == name.lower():
                return t
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, source_dir: str | None = None) -> "DatabaseSpec":
        raw = json.loads(text)
        if source_dir is not None:
            raw["source_dir"] = source_dir
        return cls(**raw)

    @classmethod
    def read(cls, path: str | Path) -> "DatabaseSpec":
        """From a JSON or (by extension .yaml/.yml) YAML file; relative paths in it are
        relative to the file."""
        path = Path(path)
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml
                raw = yaml.safe_load(path.read_text())
                raw["source_dir"] = str(path.parent.resolve())
                return cls(**raw)
            return cls.from_json(path.read_text(), source_dir=str(path.parent.resolve()))
        except TypeError as e:   # a missing or unknown key: say which, in which file
            what = str(e).split(".", 1)[-1].replace("__init__() ", "")
            raise ValueError(f"{path}: not a catalog spec ({what}); see `qserv partition "
                             "--help` for its keys") from e

    def overlap_of(self, table: TableSpec) -> float:
        """Overlap radius (degrees) of a table's rows: only directors have one."""
        if table.role != DIRECTOR:
            return 0.0
        return self.overlap_deg if table.overlap is None else float(table.overlap)

    def files(self, table: TableSpec) -> list[Path]:
        return [Path(self.source_dir) / f for f in table.data]


def keys_from_ddl(ddl: str) -> list[list[str]]:
    """The secondary keys of a `CREATE TABLE` (`KEY`, `INDEX`, `UNIQUE KEY` lines), each as
    its columns (a prefix length kept: "name(10)"). A UNIQUE key becomes a plain one: rows of
    one table live in many chunk tables, so no chunk table could enforce it (nor can the
    original)."""
    keys = []
    for m in re.finditer(r"^\s*(?:UNIQUE\s+)?(?:KEY|INDEX)\b[^(]*\(([^()]*(?:\(\d+\)[^()]*)*)\)",
                         ddl, re.IGNORECASE | re.MULTILINE):
        cols = [re.sub(r"[`\s]", "", c) for c in re.split(r",(?![^(]*\))", m.group(1))]
        keys.append([c for c in cols if c])
    return keys


def _key_part(column: str) -> str:
    """`name` or `name`(10) (a prefix length) in a KEY's column list."""
    m = re.fullmatch(r"(.+?)(\(\d+\))?", column)
    assert m is not None
    return f"`{m.group(1)}`{m.group(2) or ''}"


def columns_from_ddl(ddl: str) -> list[ColumnSpec]:
    """Column names and types of a `CREATE TABLE` statement (as `mysqldump` writes them: one
    backquoted column per line); keys and table options are skipped."""
    cols = []
    for line in ddl.splitlines():
        m = re.match(r"\s*`([^`]+)`\s+(.*?),?\s*$", line)
        if m:
            cols.append(ColumnSpec(m.group(1), m.group(2)))
    if not cols:
        raise ValueError("no column definitions found in the schema file")
    return cols
