"""`POST /ingest/files`: many chunk files of one transaction in one request (a bundle).

Why: one request, one metadata round trip and one gRPC stream per file made a catalog of
5,000 small chunks (17,000 files) cost minutes of per-file overheads. A bundle carries any
number of chunk files of chunks that live on the same workers; the czar records their
contributions in one statement, streams the lot to each of those workers in one `LoadBundle`
call (the worker creates the missing tables in bulk, then loads every file as its bytes
arrive), and records the rows of every file in one transaction of its MariaDB.

The body: one line of JSON, `{"files": [{"table", "chunk", "overlap", "name", "columns",
"bytes"}, ...]}`, then the files' bytes back to back in that order (`bytes` says where each
ends). The query carries `transaction_id` and the LOAD DATA dialect shared by every file.
Replicated tables (every worker) go through `POST /ingest/file`.
"""

from __future__ import annotations

import json
import time
from typing import AsyncIterator

from czar.ingest.schema import FINISHED, IN_PROGRESS, Dialect, IngestError, check_name
from qserv.catalog import CHUNK_COLUMNS, DIRECTOR
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2 as pb

MAX_LISTING = 64 << 20      # the JSON line: ~100 bytes a file


async def _split_listing(body: AsyncIterator[bytes]) -> tuple[dict, bytes, AsyncIterator[bytes]]:
    head = bytearray()
    it = body.__aiter__()
    while True:
        try:
            piece = await it.__anext__()
        except StopAsyncIteration:
            raise IngestError("the bundle's body must start with one line of JSON listing its files")
        at = piece.find(b"\n")
        if at >= 0:
            head += piece[:at]
            rest = bytes(piece[at + 1:])
            break
        head += piece
        if len(head) > MAX_LISTING:
            raise IngestError(f"the bundle's listing line is longer than {MAX_LISTING} bytes")
    try:
        listing = json.loads(head)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IngestError(f"the bundle's listing is not valid JSON: {e}")
    if not isinstance(listing, dict) or not isinstance(listing.get("files"), list) \
            or not listing["files"]:
        raise IngestError('the bundle\'s listing must be {"files": [...]} with at least one file')
    return listing, rest, it


def _bundle_file(i: int, f, spec) -> dict:
    """File `i` of a bundle's listing, checked: its table (partitioned), chunk, size, overlap
    flag, worker table, columns and name."""
    if not isinstance(f, dict):
        raise IngestError(f"file {i} of the bundle: not an object")
    try:
        table = spec.table(check_name(f.get("table"), "table"))
    except KeyError:
        raise IngestError(f"file {i} of the bundle: table {f.get('table')!r} is not "
                          f"registered in {spec.name}", 404)
    if not table.partitioned:
        raise IngestError(f"file {i} of the bundle: {table.name} is replicated (every "
                          "worker): send it with POST /ingest/file")
    try:
        chunk, size = int(f["chunk"]), int(f["bytes"])
    except (KeyError, TypeError, ValueError):
        raise IngestError(f"file {i} of the bundle: chunk and bytes (integers) are required")
    if size < 0:
        raise IngestError(f"file {i} of the bundle: bytes must be >= 0")
    overlap = bool(int(f.get("overlap", 0) or 0))
    if overlap and table.role != DIRECTOR:
        raise IngestError(f"file {i} of the bundle: only director tables have overlap "
                          f"({table.name} is a {table.role})")
    columns = f.get("columns") or table.column_names + list(CHUNK_COLUMNS)
    if isinstance(columns, str):
        columns = columns.split(",")
    target = table.overlap_table(chunk) if overlap else table.chunk_table(chunk)
    return dict(table=table, chunk=chunk, overlap=overlap, bytes=size, target=target,
                columns=[str(x) for x in columns], name=str(f.get("name", ""))[:1024])


async def contribute_bundle(c, q, body: AsyncIterator[bytes]) -> dict:
    """Load the files of a bundle (see the module docstring) in transaction
    `q['transaction_id']`; the rows of each file."""
    t = await c.transaction_of(q)
    trans_id, db = t["id"], t["database"]
    spec = await c.spec(db)
    listing, rest, body = await _split_listing(body)
    dialect = Dialect.from_query(q)
    files = [_bundle_file(i, f, spec) for i, f in enumerate(listing["files"])]
    placement = await c.allocate(db, sorted({f["chunk"] for f in files}))
    workers = sorted(set(placement[files[0]["chunk"]]))
    others = {f["chunk"]: placement[f["chunk"]] for f in files
              if sorted(set(placement[f["chunk"]])) != workers}
    if others:
        raise IngestError(f"the chunks of a bundle must live on the same workers: chunk "
                          f"{files[0]['chunk']} is on {workers}, but "
                          + ", ".join(f"{k} on {v}" for k, v in list(others.items())[:5]))
    ids: list[int] = []
    with c.contributing(t):
        try:
            now = time.time()

            def record(m: MetadataStore):
                with m.conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {META_DB}.ingest_contrib (trans_id, db, tbl, chunk, overlap, "
                        "workers, name, status, begin_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [(trans_id, db, f["table"].name, f["chunk"], int(f["overlap"]),
                          ",".join(workers), f["name"], IN_PROGRESS, now) for f in files])
                # Under the controller's lock: nothing else inserted since, so these are ours.
                return [r[0] for r in m.execute(
                    f"SELECT id FROM {META_DB}.ingest_contrib WHERE trans_id = %s AND "
                    "id >= LAST_INSERT_ID() ORDER BY id", (trans_id,))]
            ids = await c.meta(record)
            if len(ids) != len(files):
                raise IngestError(f"internal error: {len(ids)} contribution ids for {len(files)} files")
            header = pb.BundleHeader(
                database=db, trans_id=trans_id, **dialect.fields(),
                files=[pb.BundleFile(table=f["target"], columns=f["columns"], bytes=f["bytes"],
                                     contribution_id=f"{i} ({f['name']})" if f["name"] else str(i),
                                     create_sql=f["table"].ddl(db, f["target"], transactional=True,
                                                               trans_id=trans_id))
                       for f, i in zip(files, ids)])
            rows, nbytes = await _stream(c, trans_id, workers, header, rest, body,
                                         sum(f["bytes"] for f in files))
            end = time.time()

            def finish(m: MetadataStore):
                m.conn.begin()
                with m.conn.cursor() as cur:
                    cur.executemany(f"UPDATE {META_DB}.ingest_contrib SET status = %s, `rows` = %s, "
                                    "bytes = %s, end_time = %s WHERE id = %s",
                                    [(FINISHED, n, f["bytes"], end, i)
                                     for f, n, i in zip(files, rows, ids)])
                m.conn.commit()
            await c.meta(finish)
        except BaseException as e:
            message = await c.mark_failed(ids, e)
            if isinstance(e, IngestError):
                raise
            if isinstance(e, Exception):
                raise IngestError(f"bundle of {len(files)} files into {db} failed: {message}", 400) from e
            raise
    return {"contribs": [
        {"id": i, "table": f["table"].name, "chunk": f["chunk"], "overlap": int(f["overlap"]),
         "worker_table": f["target"], "rows": n, "bytes": f["bytes"]}
        for f, n, i in zip(files, rows, ids)],
        "transaction_id": trans_id, "database": db, "workers": workers, "bytes": nbytes}


async def _stream(c, trans_id: int, workers: list[str], header: pb.BundleHeader, rest: bytes,
                  body: AsyncIterator[bytes], expected: int) -> tuple[list[int], int]:
    """Tee the bundle's bytes to a LoadBundle call on each worker; the rows of each file."""
    calls = {w: c.stub(w).LoadBundle() for w in workers}
    with c.tracked(trans_id, calls):
        await c._write_all(calls, pb.BundleBatch(header=header))
        nbytes = 0
        buf = bytearray(rest)
        async for piece in body:
            buf += piece
            if len(buf) >= c.config.ingest_piece_bytes:
                nbytes += len(buf)
                if nbytes > expected:
                    break
                await c._write_all(calls, pb.BundleBatch(data=bytes(buf)))
                buf.clear()
        else:
            nbytes += len(buf)
            if buf and nbytes <= expected:
                await c._write_all(calls, pb.BundleBatch(data=bytes(buf)))
        if nbytes != expected:
            raise IngestError(f"the bundle's body holds {nbytes if nbytes <= expected else 'more'} "
                              f"bytes of files, its listing says {expected}")
        replies = await c._replies(calls)
        counts = {tuple(r.rows) for r in replies.values()}
        if len(counts) != 1:
            raise IngestError("replicas loaded different row counts")
        rows = list(counts.pop())
        if len(rows) != len(header.files):
            raise IngestError(f"a worker answered for {len(rows)} files of {len(header.files)}")
        return rows, nbytes
