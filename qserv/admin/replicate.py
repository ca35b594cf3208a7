"""`qserv replicate [DB]`: give every chunk R live replicas again after a worker is lost.

For each chunk of a database with fewer live replicas than its replication factor R (the
`--replication` of its ingest; live: the worker daemon answers Health and its MariaDB is
up), the chunk's tables (every partitioned table's `T_<chunk>`, a director's
`TFullOverlap_<chunk>`) are copied from a live replica to live workers that do not hold the
chunk, fewest chunks first. A copy is used only once it is verified: its row count per
ingest transaction and its `CHECKSUM TABLE ... EXTENDED` equal the source's. Then the
chunk's placement (`qservMeta.chunks`, which queries read, and the ingest's allocation) lists
the new replica instead of the lost workers, and the catalog version moves so the czar
sees it at its next query. A copy that does not verify is dropped and the next source
tried; a chunk with no live replica left cannot be restored and is reported.

How rows move, with the worker RPCs that exist (nothing new on workers): the source runs
`SELECT <columns> FROM T PARTITION (p<trans>)` as a chunk query (its read-only account;
MariaDB's OUTFILE text, streamed); the target gets the table's DDL (`ExecuteDdl`) and each
transaction's rows as an ingest contribution (`LoadContribution`: tab-separated, backslash
escapes, the same transaction id), which is how the ingest loaded them in the first place.
Every table is loaded by the transactional ingest (the one load path), so every table can
be copied. Rows pass through this process in the workers' 4 MB pieces, never whole;
up to `jobs` chunks are copied at once (threads), their placement written one at a time.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import grpc

from qserv.catalog import DIRECTOR, TRANS_COLUMN, DatabaseSpec, TableSpec
from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2 as pb
from qserv.workers import health, stub

MARKER = "@@QSERV_NO_CHUNK@@"   # the chunk marker of a request that names its tables itself


class ReplicationError(RuntimeError):
    pass


@dataclass
class Report:
    database: str
    replication: int
    lost_workers: list[str] = field(default_factory=list)
    copied: dict[int, list[str]] = field(default_factory=dict)     # chunk -> new replicas
    unrecoverable: list[int] = field(default_factory=list)          # no live replica left
    failed: dict[int, str] = field(default_factory=dict)            # chunk -> why not copied
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.unrecoverable and not self.failed


def outfile_rows(text: bytes) -> list[list[str | None]]:
    """Rows of a few-rows answer (MariaDB's OUTFILE text): tab-separated, `\\N` for NULL,
    backslash escapes. Enough for the metadata answers read here."""
    out = []
    for line in text.decode().split("\n"):
        if not line:
            continue
        fields: list[str | None] = []
        for f in line.split("\t"):
            fields.append(None if f == "\\N" else
                          f.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\"))
        out.append(fields)
    return out


class Workers:
    """Sync gRPC to the cluster's workers, and the chunk-query calls this tool makes."""

    def __init__(self, config: ClusterConfig):
        self.config = config
        self.stubs = {w.name: stub(w, config.grpc_token) for w in config.workers}
        self.locks = {w.name: threading.Lock() for w in config.workers}
        self._ids = itertools.count(1)   # next() of a count is atomic: threads share it
        self._run = uuid.uuid4().hex[:8]   # query ids as the czar's (the worker's sweeps know them)

    def alive(self) -> set[str]:
        out = set()
        for w in self.config.workers:
            h = health(w, self.config.grpc_token)
            if h is not None and h.mariadb_ok:
                out.add(w.name)
        return out

    def request(self, db: str, sql: str, few_rows: bool) -> pb.ChunkQueryRequest:
        return pb.ChunkQueryRequest(query_id=f"{self._run}_{next(self._ids)}", database=db,
                                    sql_template=sql, chunk_marker=MARKER, few_rows=few_rows)

    def rows(self, worker: str, db: str, sql: str) -> list[list[str | None]]:
        text = b"".join(b.tsv for b in self.stubs[worker].RunChunkQuery(
            self.request(db, sql, few_rows=True), timeout=600))
        return outfile_rows(text)

    def counts(self, worker: str, db: str) -> dict[str, dict[int, int]]:
        """table -> {transaction: rows} on `worker`."""
        out: dict[str, dict[int, int]] = defaultdict(dict)
        for c in self.stubs[worker].TableCounts(pb.TableCountsRequest(database=db), timeout=600).counts:
            out[c.table][c.trans_id] = c.rows
        return dict(out)

    def checksum(self, worker: str, db: str, table: str) -> str | None:
        rows = self.rows(worker, db, f"CHECKSUM TABLE `{db}`.`{table}` EXTENDED")
        return rows[0][1] if rows else None

    def columns(self, worker: str, db: str, table: str) -> list[str]:
        rows = self.rows(worker, db, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                                     f"TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}' "
                                     "ORDER BY ORDINAL_POSITION")
        return [r[0] for r in rows if r[0]]

    def ddl(self, worker: str, statements: list[str], db: str = "") -> None:
        self.stubs[worker].ExecuteDdl(pb.DdlRequest(database=db, statements=statements), timeout=600)


def copy_table(ws: Workers, source: str, target: str, db: str, t: TableSpec, table: str) -> int:
    """Copy `db.table` (of table spec `t`) from `source` to `target` and verify it; returns
    its rows. Raises ReplicationError (after dropping the copy) when it does not verify."""
    src_counts = ws.counts(source, db).get(table)
    if src_counts is None:
        raise ReplicationError(f"{source} has no table {db}.{table}")
    columns = [c for c in ws.columns(source, db, table) if c != TRANS_COLUMN]
    if not columns:
        raise ReplicationError(f"no columns of {db}.{table} on {source}")
    # chunkId/subChunkId are INVISIBLE in the spec's DDL but real columns: named explicitly
    ws.ddl(target, [f"CREATE DATABASE IF NOT EXISTS `{db}`"])
    ws.ddl(target, [f"DROP TABLE IF EXISTS `{db}`.`{table}`",
                    t.ddl(db, table, transactional=True)], db)
    try:
        rows = 0
        for trans, n in sorted(src_counts.items()):
            if trans == 0 or n == 0:
                continue   # p0 exists empty in every ingest table
            rows += _copy_partition(ws, source, target, db, table, columns, trans)
        got = ws.counts(target, db).get(table, {})
        want = {k: v for k, v in src_counts.items() if v}
        if {k: v for k, v in got.items() if v} != want:
            raise ReplicationError(f"row counts of {db}.{table} differ: {source} {want}, "
                                   f"copy on {target} {got}")
        a, b = ws.checksum(source, db, table), ws.checksum(target, db, table)
        if a is None or a != b:
            raise ReplicationError(f"checksums of {db}.{table} differ: {source} {a}, "
                                   f"copy on {target} {b}")
        return rows
    except BaseException:
        try:
            ws.ddl(target, [f"DROP TABLE IF EXISTS `{db}`.`{table}`"], db)
        except grpc.RpcError:
            pass
        raise


def _copy_partition(ws: Workers, source: str, target: str, db: str, table: str,
                    columns: list[str], trans: int) -> int:
    cols = ", ".join(f"`{c}`" for c in columns)
    request = ws.request(db, f"SELECT {cols} FROM `{db}`.`{table}` PARTITION (p{trans})",
                         few_rows=False)
    header = pb.ContributionHeader(
        database=db, table=table, trans_id=trans, create_sql="", columns=columns,
        fields_terminated_by="\t", fields_enclosed_by="", fields_escaped_by="\\",
        lines_terminated_by="\n", contribution_id=f"replicate {db}.{table} p{trans} "
                                                  f"{source}->{target}")

    def batches():
        yield pb.ContributionBatch(header=header)
        for batch in ws.stubs[source].RunChunkQuery(request, timeout=3600):
            if batch.tsv:
                yield pb.ContributionBatch(data=batch.tsv)
    try:
        return ws.stubs[target].LoadContribution(batches(), timeout=3600).rows
    except grpc.RpcError as e:
        raise ReplicationError(f"copy of {db}.{table} p{trans} from {source} to {target}: "
                               f"{e.code().name} {e.details()}") from None


def chunk_tables(spec: DatabaseSpec, chunk: int) -> list[tuple[TableSpec, str]]:
    out = []
    for t in spec.tables:
        if t.partitioned:
            out.append((t, t.chunk_table(chunk)))
            if t.role == DIRECTOR:
                out.append((t, t.overlap_table(chunk)))
    return out


def replication_factor(meta: MetadataStore, db: str, placement: dict[int, list[str]]) -> int:
    try:
        rows = meta.execute(f"SELECT replication FROM {META_DB}.ingest_dbs WHERE db = %s", (db,))
    except Exception:  # noqa: BLE001 - no ingest table: a cluster loaded otherwise
        rows = ()
    if rows:
        return int(rows[0][0])
    return max((len(ws) for ws in placement.values()), default=1)


def replicate(config: ClusterConfig, database: str | None = None, replication: int | None = None,
              echo=print, jobs: int = 4) -> list[Report]:
    """Restore `replication` (default: each database's) live replicas of every chunk of
    `database` (default: all), copying up to `jobs` chunks at once."""
    conn = MariaDBServer.for_czar(config).connect()
    meta = MetadataStore(conn)
    try:
        specs = meta.databases()
        if database is not None and database not in specs:
            raise ReplicationError(f"no database {database!r} (known: {', '.join(specs) or 'none'})")
        ws = Workers(config)
        alive = ws.alive()
        echo(f"live workers: {', '.join(sorted(alive)) or 'none'}")
        return [_replicate_db(meta, ws, alive, specs[db], replication, echo, jobs)
                for db in ([database] if database else sorted(specs))]
    finally:
        conn.close()


def _replicate_db(meta: MetadataStore, ws: Workers, alive: set[str], spec: DatabaseSpec,
                  replication: int | None, echo, jobs: int) -> Report:
    db = spec.name
    placement = meta.placement(db)
    r = replication or replication_factor(meta, db, placement)
    report = Report(db, r)
    report.lost_workers = sorted({w for ws_ in placement.values() for w in ws_} - alive)
    load: dict[str, int] = defaultdict(int)   # live chunks per worker: new replicas go to the least loaded
    for ws_ in placement.values():
        for w in ws_:
            if w in alive:
                load[w] += 1
    short = {c: [w for w in placement[c] if w in alive] for c in sorted(placement)}
    short = {c: live for c, live in short.items() if len(live) < r}
    echo(f"{db}: replication {r}, {len(placement)} chunks, {len(short)} with fewer live "
         f"replicas" + (f" (lost: {', '.join(report.lost_workers)})" if report.lost_workers else ""))
    plans = []
    for chunk, live in short.items():
        if not live:
            report.unrecoverable.append(chunk)
            continue
        # the least loaded first; the planned targets count at once, so the chunks of a
        # lost worker spread over the others
        candidates = sorted((w for w in alive if w not in placement[chunk]),
                            key=lambda w: (load[w], w))
        for w in candidates[:r - len(live)]:
            load[w] += 1
        plans.append((chunk, live, candidates))
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {pool.submit(_restore, ws, spec, chunk, live, candidates, r): (chunk, live)
                   for chunk, live, candidates in plans}
        for future in as_completed(futures):   # registered here, one at a time
            chunk, live = futures[future]
            new, rows, failure = future.result()
            report.rows += rows
            if new:
                _register(meta, db, chunk, keep=live + new,
                          drop=[w for w in placement[chunk] if w not in live])
                report.copied[chunk] = new
            if failure:
                report.failed[chunk] = failure
    echo(f"{db}: {len(report.copied)} chunks copied ({report.rows} rows), "
         f"{len(report.unrecoverable)} without any live replica, {len(report.failed)} failed")
    return report


def _restore(ws: Workers, spec: DatabaseSpec, chunk: int, live: list[str],
             candidates: list[str], r: int) -> tuple[list[str], int, str]:
    """Copy `chunk` to candidates in turn until it has `r` live replicas: (new replicas,
    rows copied, why it has fewer than `r` or "")."""
    new: list[str] = []
    rows, failure = 0, ""
    for target in candidates:
        if len(live) + len(new) >= r:
            break
        try:
            rows += _copy_chunk(ws, spec, chunk, live, target)
        except ReplicationError as e:
            failure = str(e)
            continue
        except grpc.RpcError as e:
            failure = f"{target}: {e.code().name} {e.details()}"
            continue
        new.append(target)
    if len(live) + len(new) >= r:
        return new, rows, ""
    return new, rows, failure or f"{len(live) + len(new)} live replicas, no other live worker to copy to"


def _copy_chunk(ws: Workers, spec: DatabaseSpec, chunk: int, sources: list[str],
                target: str) -> int:
    """Every table of `chunk` to `target`, from the first source whose copy verifies."""
    errors = []
    for source in sources:
        try:
            with ws.locks[target]:   # a worker new to the database gets its replicated tables
                present = ws.counts(target, spec.name)   # empty without the database
                rows = sum(copy_table(ws, source, target, spec.name, t, t.name)
                           for t in spec.tables if not t.partitioned and t.name not in present)
            return rows + sum(copy_table(ws, source, target, spec.name, t, table)
                              for t, table in chunk_tables(spec, chunk))
        except ReplicationError as e:
            errors.append(str(e))
        except grpc.RpcError as e:
            errors.append(f"{source} -> {target}: {e.code().name} {e.details()}")
    raise ReplicationError(f"chunk {chunk}: " + "; ".join(errors))


def _register(meta: MetadataStore, db: str, chunk: int, keep: list[str], drop: list[str]) -> None:
    """The verified replicas become the chunk's placement (the lost ones leave it)."""
    for table in ("chunks", "ingest_chunks"):
        try:   # the new ones first: a chunk never lists fewer replicas than it has
            for w in keep:
                meta.execute(f"INSERT IGNORE INTO {META_DB}.{table} (db, chunk_id, worker) "
                             "VALUES (%s, %s, %s)", (db, chunk, w))
            for w in drop:
                meta.execute(f"DELETE FROM {META_DB}.{table} WHERE db = %s AND chunk_id = %s "
                             "AND worker = %s", (db, chunk, w))
        except Exception:  # noqa: BLE001 - ingest_chunks exists only after an ingest
            if table == "chunks":
                raise
    meta.bump_version()
