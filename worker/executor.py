"""Runs chunk queries on the worker's MariaDB and yields the rows as TSV bytes.

MariaDB writes the rows itself (`SELECT ... INTO OUTFILE`, tab-separated, `\\N` for NULL,
backslash escapes): the same text `LOAD DATA` reads back at the czar, so no Python code looks
at individual rows. The outfile lives on the worker's host next to its mariadbd (they share a
pod in Kubernetes), and is read back in large pieces and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import AsyncIterator

import asyncmy
import asyncmy.cursors

from qserv.config import ClusterConfig
from qserv.scheduling import ClassSlots
from worker.rows_text import outfile_text

log = logging.getLogger("worker.executor")

READ_SIZE = ClusterConfig.result_batch_bytes  # bytes per ResultBatch: large, as DESIGN §6 asks
UNION_BYTES = ClusterConfig.union_statement_bytes  # chunk-query text joined into one statement
FOLLOW_POLL_S = 0.01  # how often a growing OUTFILE is looked at while MariaDB writes it
FOLLOW_MIN_PIECE = 64 << 10  # bytes worth a message while MariaDB still writes (see below)
SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
ER_DBACCESS_DENIED = 1044


class QuietCursor(asyncmy.cursors.Cursor):
    """asyncmy answers a statement that left warnings with SHOW WARNINGS and logs each one:
    one more round trip per chunk query (every `... INTO OUTFILE` warns that MariaDB will move
    INTO before FROM one day) and a log line per query. The czar never sees worker warnings."""

    async def _show_warnings(self, conn):
        return None


class ChunkQueryError(Exception):
    """A MariaDB error while running a chunk query; carries MariaDB's code."""

    def __init__(self, code: int, message: str, where: str | None):
        text = f"{message} (in {where})" if where else message
        super().__init__(text)
        self.code = code
        self.message = text


class Executor:
    """Chunk queries run as the read-only account `reader` (qserv.mariadb.READER_USER), granted
    SELECT on a database when the first query of that database comes: whatever SQL a request
    carries, MariaDB itself refuses any write (1142), and any file outside the outfile
    directory (secure_file_priv, 1290). `root_password` is for the worker's own work (health,
    KILL, DDL). Without `reader` (a stand-alone server, in tests) queries run as root."""

    def __init__(self, socket: str | dict, outfile_dir: Path,
                 max_parallel: int = ClusterConfig.worker_query_slots,
                 root_password: str = "", reader: tuple[str, str] | None = None,
                 union_bytes: int = UNION_BYTES, read_size: int = READ_SIZE):
        # where MariaDB is: its unix socket, or connection arguments (MariaDBServer.client_args)
        self.where = socket if isinstance(socket, dict) else {"unix_socket": socket}
        # the account host the reader connects from (a socket: 'localhost')
        self.reader_host = self.where.get("host", "localhost")
        self.union_bytes, self.read_size = union_bytes, read_size
        self.outfile_dir = Path(outfile_dir)
        self.root_password = root_password
        self.reader = reader
        self._pool: asyncmy.Pool | None = None
        # Chunk queries run on connections opened in their database (no USE per query) that
        # hand values over as MariaDB's text, unconverted (the few-rows path sends that text).
        self._query_pools: dict[str, asyncmy.Pool] = {}
        # max_parallel statements of scans, one more for interactive jobs, which go first
        # (qserv/scheduling.py)
        self._slots = ClassSlots(max_parallel, reserved=1)
        self.running: dict[str, set[int]] = defaultdict(set)  # query id -> MariaDB thread ids
        # names of the OUTFILEs running queries follow: registered before MariaDB creates one,
        # forgotten after it is deleted, so the leftover sweep (worker/leftovers.py) never
        # takes the file of a running query
        self.outfiles: set[str] = set()

    async def pool(self) -> asyncmy.Pool:
        if self._pool is None:
            self._pool = await asyncmy.create_pool(
                **self.where, user="root", password=self.root_password,
                autocommit=True, minsize=1, maxsize=16, charset="utf8mb4", local_infile=True)
        return self._pool

    async def query_pool(self, database: str) -> asyncmy.Pool:
        pool = self._query_pools.get(database)
        if pool is None:
            user, password = self.reader or ("root", self.root_password)
            if self.reader:
                await self._grant_reader(database)
            pool = await asyncmy.create_pool(
                **self.where, user=user, password=password, autocommit=True,
                db=database, minsize=1, maxsize=16, charset="utf8mb4", conv={}, use_unicode=False)
            self._query_pools[database] = pool
        return pool

    async def _grant_reader(self, database: str) -> None:
        """Let the reader read `database` (only user databases: never MariaDB's own)."""
        if database.lower() in SYSTEM_DATABASES or not database:
            raise asyncmy.errors.OperationalError(
                ER_DBACCESS_DENIED, f"Access denied to database '{database}'")
        name = database.replace("`", "``")
        async with (await self.pool()).acquire() as conn, conn.cursor() as cur:
            await cur.execute(f"GRANT SELECT, EXECUTE ON `{name}`.* TO "
                              f"'{self.reader[0]}'@'{self.reader_host}'")

    def forget_query_pools(self) -> None:
        """After DDL: a dropped and re-created database leaves the open connections without
        a current database, so the next chunk queries open new ones."""
        pools, self._query_pools = list(self._query_pools.values()), {}
        for pool in pools:
            pool.close()  # connections still in use are closed when released

    async def close(self):
        for pool in [self._pool, *self._query_pools.values()]:
            if pool is not None:
                pool.close()
                await pool.wait_closed()

    async def run(self, query_id: str, database: str, sql_template: str, marker: str,
                  chunk_ids: list[int], few_rows: bool = False,
                  session_sql: str = "", time_limit: float | None = None,
                  scan: bool = False, arg_marker: str = "",
                  chunk_args: list[str] | None = None) -> AsyncIterator[bytes]:
        """Yield the rows of `sql_template` over each chunk (or once when no chunk is given).

        All chunks of a request run as ONE statement, `(q_1) UNION ALL (q_2) ... INTO OUTFILE`:
        one round trip and one file instead of one per chunk, which is most of the cost of a
        small chunk; but a statement never carries the template more often than fits in
        UNION_BYTES (`chunk_statements`), so a client's large literal is not multiplied. With `few_rows` the rows are fetched over the connection instead and
        yielded as one piece of the same text (worker/rows_text.py). `session_sql` (the
        client's session variables, e.g. `SET SESSION sql_mode = ...`) runs first on the
        connection, which is then closed rather than returned to the pool. `time_limit`
        (seconds): MariaDB stops the statement after it (1969, max_statement_time). `scan`:
        the job is part of a scan (its statements wait behind interactive ones). `chunk_args`
        (parallel to `chunk_ids`): each chunk's own text where `arg_marker` stands (a list of
        integers, checked here: see `chunk_statements`).
        """
        started = time.monotonic()
        statements = chunk_statements(sql_template, marker, chunk_ids, self.union_bytes,
                                      arg_marker, chunk_args)
        texts = []
        for sql, chunks in statements:
            left = None if time_limit is None else time_limit - (time.monotonic() - started)
            where = (f"chunks {chunks[0]}..{chunks[-1]}" if len(chunks) > 1
                     else f"chunk {chunks[0]}" if chunks else None)
            sql = with_time_limit(left) + sql
            if few_rows:  # every statement's rows, sent as one piece
                async with self._statement(query_id, database, where, session_sql, scan) as cur:
                    await self._execute(cur, sql, where)
                    texts.append(outfile_text(await cur.fetchall()))
                continue
            async for piece in self._outfile_pieces(query_id, database, sql, where, session_sql,
                                                    scan):
                yield piece
        if few_rows:
            yield b"".join(texts)

    async def _outfile_pieces(self, query_id: str, database: str, sql: str, where: str | None,
                              session_sql: str, scan: bool = False) -> AsyncIterator[bytes]:
        """The rows of one statement, read from its OUTFILE while MariaDB writes it."""
        path = self.outfile_dir / f"{query_id}-{uuid.uuid4().hex}.tsv"
        self.outfiles.add(path.name)
        # MariaDB appends to the file as it finds rows: pieces go out while it still scans,
        # so the czar and its client work in parallel with the scan.
        writing = asyncio.create_task(self._write_outfile(query_id, database, sql, path,
                                                          where, session_sql, scan))
        try:
            async for piece in follow_pieces(path, writing, self.read_size):
                yield piece
        finally:
            if not writing.done():
                writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)
            path.unlink(missing_ok=True)
            self.outfiles.discard(path.name)

    async def _write_outfile(self, query_id: str, database: str, sql: str, path: Path,
                             where: str | None, session_sql: str = "", scan: bool = False) -> None:
        async with self._statement(query_id, database, where, session_sql, scan) as cur:
            await self._execute(cur, f"{sql} INTO OUTFILE '{path}'", where)

    @contextlib.asynccontextmanager
    async def _statement(self, query_id: str, database: str, where: str | None,
                         session_sql: str = "", scan: bool = False):
        """A cursor on a connection of `database`, within the MariaDB slots, registered under
        the query id so that CancelQuery (or this task's cancellation) kills its statement."""
        async with self._slots.slot(scan):
            async with self._connection(database, where) as conn:
                thread_id = conn.server_thread_id[0] if isinstance(conn.server_thread_id, tuple) \
                    else conn.server_thread_id
                self.running[query_id].add(thread_id)
                try:
                    async with conn.cursor(QuietCursor) as cur:
                        if session_sql:
                            await self._execute(cur, session_sql, where)
                        yield cur
                except asyncio.CancelledError:
                    await self.kill(thread_id)
                    raise
                finally:
                    if session_sql:  # a client's settings must not reach another query
                        conn.close()
                    self.running[query_id].discard(thread_id)
                    if not self.running[query_id]:
                        self.running.pop(query_id, None)

    @contextlib.asynccontextmanager
    async def _connection(self, database: str, where: str | None):
        """A connection of `database`'s query pool. DDL (ExecuteDdl) closes the pools
        (forget_query_pools) while other chunk queries may be about to take a connection
        from one; they then take it from a new pool instead of failing ("Cannot acquire
        connection after closing pool", seen when `qserv replicate` copied chunks to and
        from the same worker at once)."""
        for _ in range(3):
            try:
                pool = await self.query_pool(database)
            except asyncmy.errors.MySQLError as e:  # e.g. 1049: no such database here
                raise _chunk_error(e, where) from None
            try:
                conn = await pool.acquire()
            except RuntimeError:   # closed meanwhile
                if self._query_pools.get(database) is pool:
                    del self._query_pools[database]
                continue
            try:
                yield conn
            finally:
                pool.release(conn)
            return
        raise ChunkQueryError(1105, "the worker's query connections kept closing (DDL running "
                                    "at the same time); run the query again", where)

    @staticmethod
    async def _execute(cur, sql: str, where: str | None) -> None:
        try:
            await cur.execute(sql)
        except asyncmy.errors.MySQLError as e:
            raise _chunk_error(e, where) from None

    async def kill(self, thread_id: int) -> None:
        """KILL QUERY on a separate connection (the busy one cannot interrupt itself)."""
        try:
            conn = await asyncmy.connect(**self.where, user="root",
                                         password=self.root_password)
            try:
                async with conn.cursor() as cur:
                    await cur.execute(f"KILL QUERY {int(thread_id)}")
            finally:
                conn.close()
        except Exception as e:  # the query may have finished meanwhile
            log.info("kill of thread %s: %s", thread_id, e)

    async def cancel(self, query_id: str) -> int:
        threads = list(self.running.get(query_id, ()))
        for t in threads:
            await self.kill(t)
        return len(threads)


def chunk_statements(template: str, marker: str, chunk_ids: list[int],
                     budget: int | None = None, arg_marker: str = "",
                     chunk_args: list[str] | None = None) -> list[tuple[str, list[int]]]:
    """The statements that run `template` over `chunk_ids`, with the chunks of each: as few as
    possible, each a `UNION ALL` of at most UNION_BYTES of text (one chunk at least). Issue 15,
    item 5: a 10 MB string literal in a query was copied 64 times into one statement, and the
    worker's MariaDB was killed for its memory; now such a query runs chunk by chunk.
    `chunk_args`: each chunk's text for `arg_marker` (see `_chunk_args_statements`)."""
    budget = UNION_BYTES if budget is None else budget
    if chunk_args:
        return _chunk_args_statements(template, marker, chunk_ids, budget, arg_marker, chunk_args)
    if not chunk_ids:
        return [(template, [])]
    per_statement = max(1, budget // max(1, len(template)))
    out = []
    for i in range(0, len(chunk_ids), per_statement):
        group = chunk_ids[i:i + per_statement]
        if len(group) == 1:
            # not parenthesized: MariaDB refuses `((a) UNION ALL (b)) INTO OUTFILE`, which is
            # what a near-neighbour template over one chunk would become
            out.append((template.replace(marker, str(group[0])), group))
        else:
            out.append((" UNION ALL ".join(f"({template.replace(marker, str(c))})" for c in group),
                        group))
    return out


INTEGER_LIST = re.compile(r"-?\d{1,20}(,-?\d{1,20})*")


def _chunk_args_statements(template: str, marker: str, chunk_ids: list[int], budget: int,
                           arg_marker: str, chunk_args: list[str]) -> list[tuple[str, list[int]]]:
    """Per-chunk statements where each chunk's text also carries its own list (the director keys
    it holds of a long IN list, czar/engine.py): grouped into UNION ALLs of at most `budget`
    bytes. The lists go into SQL as they are, so only lists of integers are accepted."""
    if not arg_marker or len(chunk_args) != len(chunk_ids) or arg_marker not in template:
        raise ChunkQueryError(1105, "per-chunk arguments without their marker or one per chunk", None)
    out, group, texts, size = [], [], [], 0
    for chunk, arg in zip(chunk_ids, chunk_args):
        if not INTEGER_LIST.fullmatch(arg):
            raise ChunkQueryError(1105, "a per-chunk argument is not a list of integers",
                                  f"chunk {chunk}")
        text = template.replace(marker, str(chunk)).replace(arg_marker, arg)
        if group and size + len(text) > budget:
            out.append(_union(texts, group))
            group, texts, size = [], [], 0
        group.append(chunk)
        texts.append(text)
        size += len(text)
    if group:
        out.append(_union(texts, group))
    return out


def _union(texts: list[str], group: list[int]) -> tuple[str, list[int]]:
    if len(texts) == 1:
        return texts[0], group
    return " UNION ALL ".join(f"({t})" for t in texts), group


def with_time_limit(seconds: float | None) -> str:
    """The prefix that makes MariaDB stop a statement after `seconds` (None: no prefix)."""
    if seconds is None:
        return ""
    return f"SET STATEMENT max_statement_time = {max(seconds, 0.001):.3f} FOR "


def _chunk_error(e: asyncmy.errors.MySQLError, where: str | None) -> ChunkQueryError:
    code = e.args[0] if e.args and isinstance(e.args[0], int) else 1105
    msg = e.args[1] if len(e.args) > 1 else str(e)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return ChunkQueryError(code, msg, where)


async def follow_pieces(path: Path, writing: asyncio.Task,
                        read_size: int = READ_SIZE) -> AsyncIterator[bytes]:
    """Pieces of a file that `writing` (a MariaDB OUTFILE statement) is still appending to,
    then the rest once it is done; the statement's error is raised when it fails (after the
    pieces already read: the czar passes the error on in place of the next row).

    While MariaDB writes, the first piece goes out as soon as there is one, later ones once
    FOLLOW_MIN_PIECE bytes are there. That is small on purpose: all jobs of a query scan at
    once, each at a fraction of the CPU, and the czar hands on whatever any job has sent
    (czar/streaming.py); with 512 KB most rows waited for their job's end while the client had
    nothing to read. Reads are plain `os.read` of page-cached data, cheaper than a thread
    hand-off per piece."""
    fd, offset = None, 0
    try:
        while True:
            done = writing.done()
            if fd is None and (done or path.exists()):
                if done:
                    writing.result()  # raises the statement's error
                fd = os.open(path, os.O_RDONLY)
            if fd is not None:
                waiting = os.fstat(fd).st_size - offset
                # the first rows go out as soon as there are any: the client starts early
                if waiting >= (FOLLOW_MIN_PIECE if offset else 1) or (done and waiting > 0):
                    data = os.read(fd, read_size)
                    offset += len(data)
                    yield data
                    continue
                if done:
                    writing.result()  # all read: a failure still must not pass as the end
                    return
            await asyncio.wait([writing], timeout=FOLLOW_POLL_S)
    finally:
        if fd is not None:
            os.close(fd)
