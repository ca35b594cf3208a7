"""A bundle: many contributions of one ingest transaction in one gRPC stream (LoadBundle).

Why: a catalog of thousands of small chunks spent its time in per-file overheads (an HTTP
request, a czar metadata round trip, a gRPC stream and one DDL per file: ~2 minutes for 5,000
chunks of a few dozen rows), and a big file waited to be spooled whole before its LOAD began.
Here the header lists every file of the bundle in order with its size; the worker creates
the bundle's missing tables first (bulk DDL over a few connections: a CREATE costs a few ms
of file creation and syncs, so several run at once), then loads the files, several at
once (a small file costs a few round trips to a MariaDB that may wait for the CPU: they
overlap). A big file goes through a named pipe: `LOAD DATA INFILE` reads the FIFO while the
bytes arrive from the stream, so receiving overlaps loading and nothing is written to disk
but the table itself; a smaller one (<= 8 MiB) is spooled whole and loaded in one statement.

Transactions work as for single contributions (worker/ingest.py): a table created here has
only the transaction's partition `pT`, an existing table gets `pT` added, every row carries
`qserv_trans_id = T`; aborting T drops them all.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fcntl
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncmy

from qserv.config import ClusterConfig
from qserv.v1 import worker_pb2 as pb
from worker.ingest import (ER_BAD_DB, ER_DUP_PARTITION, ER_TABLE_EXISTS, ContributionError,
                           _name, load_sql)

log = logging.getLogger("worker.bundle")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)



@dataclass(frozen=True)
class BundleLimits:
    """ClusterConfig's worker_ddl_connections (CREATEs at once: each waits on file syncs more
    than on the CPU), worker_load_connections (LOADs at once: small files cost round trips
    more than the CPU) and worker_spool_max_bytes (files up to this size are spooled whole
    and loaded in one statement; bigger ones stream through a named pipe, whose reader, a
    niced MariaDB on a busy machine, waits to be woken for every pipe-full: 10M rows in 1 MB
    files loaded at half the speed through pipes)."""
    ddl_connections: int = ClusterConfig.worker_ddl_connections
    load_connections: int = ClusterConfig.worker_load_connections
    spool_max_bytes: int = ClusterConfig.worker_spool_max_bytes

    @classmethod
    def of(cls, config: ClusterConfig) -> "BundleLimits":
        return cls(config.worker_ddl_connections, config.worker_load_connections,
                   config.worker_spool_max_bytes)


PIPE_BYTES = 1 << 20         # the pipe's buffer (Linux: 64 KiB unless raised)


class FifoLoad:
    """One `LOAD DATA INFILE` reading a named pipe that this object writes."""

    def __init__(self, path: Path, sql: str, conn):
        self.path = path
        self.sql = sql
        self.conn = conn
        self.fd: int | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        os.mkfifo(self.path, 0o600)
        self.task = asyncio.ensure_future(self._run())
        # MariaDB opens the pipe once the statement starts; a statement that fails before
        # (no table, no partition for the transaction) never opens it: watch the task.
        delay = 0.0002
        while True:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                try:
                    fcntl.fcntl(self.fd, F_SETPIPE_SZ, PIPE_BYTES)
                except OSError:
                    pass          # above /proc/sys/fs/pipe-max-size: the default then
                return
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
            if self.task.done():
                await self.task                 # raises the statement's error
                raise ContributionError("LOAD DATA ended before reading its file")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)

    async def _run(self):
        async with self.conn.cursor() as cur:
            await cur.execute(self.sql)
            rows = cur.rowcount
            warnings = []
            if getattr(self.conn._result, "warning_count", 1):
                await cur.execute("SHOW WARNINGS LIMIT 5")
                warnings = await cur.fetchall()
        return rows, warnings

    async def write(self, data: memoryview) -> None:
        loop = asyncio.get_running_loop()
        while data:
            try:
                n = os.write(self.fd, data)
                data = data[n:]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self.fd, lambda: ready.done() or ready.set_result(None))
                try:
                    await asyncio.wait([ready, self.task], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    loop.remove_writer(self.fd)
                if self.task.done() and not ready.done():
                    await self._ended_early()
            except BrokenPipeError:
                await self._ended_early()

    async def _ended_early(self):
        await self.task                         # its error says why
        raise ContributionError("LOAD DATA stopped reading before the end of its file")

    async def finish(self) -> tuple[int, list]:
        os.close(self.fd)
        self.fd = None
        return await self.task

    async def close(self) -> None:
        """Whatever happened: the statement ends (an EOF for a reader still waiting), the pipe
        goes."""
        try:
            if self.fd is None and self.task is not None and not self.task.done():
                try:   # a reader blocked in open() gets a writer, then EOF
                    self.fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    pass
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            if self.task is not None and not self.task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self.task), 30)
                except BaseException:
                    pass
        finally:
            self.path.unlink(missing_ok=True)


class BundleLoader:
    def __init__(self, pool_factory, spool_dir: Path, limits: BundleLimits = BundleLimits()):
        self.pool_factory = pool_factory
        self.spool_dir = Path(spool_dir)
        self.limits = limits

    async def load(self, request_iterator) -> pb.BundleReply:
        started = time.monotonic()
        stream = request_iterator.__aiter__()
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            raise ContributionError("empty bundle stream")
        if not first.HasField("header"):
            raise ContributionError("the first message must carry the header")
        h = first.header
        db, trans = _checked_header(h)
        pool = await self.pool_factory()
        # Tables are created in the files' order while the first files load (both wait on
        # MariaDB more than on the CPU): a load waits for its own table only.
        ready, ddl = await self._tables(pool, db, trans, h.files)
        ddl_seconds = 0.0

        async def ddl_done():
            nonlocal ddl_seconds
            try:
                await ddl
            finally:
                ddl_seconds = time.monotonic() - started
        ddl_task = asyncio.ensure_future(ddl_done())
        call = _BundleCall(stream, first.data, h, db, trans, pool, ready, self.spool_dir,
                           self.limits)
        try:
            await call.receive_and_load()
        finally:
            # No DDL may run once the call has ended: the caller aborts the transaction
            # then, and a table created after the abort would keep its partition.
            ddl.stop()
            await asyncio.gather(ddl_task, return_exceptions=True)
        if call.failed:
            raise call.failed[0]
        error = ddl_task.exception()
        if error is not None:
            raise error
        total = sum(f.bytes for f in h.files)
        if call.pending or await _more(stream):
            raise ContributionError("the bundle stream carries more bytes than its files")
        seconds = time.monotonic() - started
        log.info("bundle %s trans %d: %d files (%d spool files), %d rows, %d bytes in %.3f s "
                 "(receive %.3f, DDL %.3f, LOAD %.3f)", db, trans, len(call.rows),
                 len(call.spools_made), sum(call.rows), total, seconds, call.waited, ddl_seconds,
                 seconds - call.waited)
        return pb.BundleReply(rows=call.rows, bytes=total)

    async def _tables(self, pool, db: str, trans: int, files) -> tuple[dict, "_Ddl"]:
        """Every table of the bundle made to exist with the transaction's partition (the
        missing ones created, the others given `pT`), in the files' order, over a few
        connections; a future per table says when it is ready (or why it is not)."""
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                try:
                    await cur.execute(f"SHOW TABLES FROM `{db}`")
                    existing = {r[0] for r in await cur.fetchall()}
                except asyncmy.errors.MySQLError as e:
                    if e.args[0] != ER_BAD_DB:
                        raise
                    await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
                    existing = set()
        work: dict[str, str] = {}
        for f in files:
            if f.table not in work:
                work[f.table] = "" if f.table in existing or not f.create_sql else f.create_sql
        loop = asyncio.get_running_loop()
        ready = {t: loop.create_future() for t in work}
        ddl = _Ddl(pool, db, trans, list(work.items()), ready, self.limits.ddl_connections)
        return ready, ddl


class _Ddl:
    """The bundle's DDL, run by `connections` tasks; awaitable (ends when they end)."""

    def __init__(self, pool, db: str, trans: int, work: list[tuple[str, str]], ready: dict,
                 connections: int):
        self.pool, self.db, self.trans = pool, db, trans
        self.queue = collections.deque(work)
        self.ready = ready
        self.tasks = [asyncio.ensure_future(self._run())
                      for _ in range(min(connections, len(work)))]

    def stop(self) -> None:
        """Nothing more starts; the tables not made fail their loads."""
        while self.queue:
            table, _ = self.queue.popleft()
            if not self.ready[table].done():
                self.ready[table].set_exception(ContributionError("the bundle stopped"))
                self.ready[table].exception()     # retrieved: no "never retrieved" noise

    def __await__(self):
        return asyncio.gather(*self.tasks).__await__()

    async def _run(self):
        try:
            async with self.pool.acquire() as conn:
                async with conn.cursor() as cur:
                    while self.queue:
                        table, create = self.queue.popleft()
                        try:
                            await self._one(conn, cur, table, create)
                        except BaseException as e:
                            self.ready[table].set_exception(e)
                            self.ready[table].exception()
                            raise
                        self.ready[table].set_result(None)
        except BaseException:
            self.stop()
            raise

    async def _one(self, conn, cur, table: str, create: str) -> None:
        db, trans = self.db, self.trans
        if create:
            await cur.execute(create)
            if not getattr(conn._result, "warning_count", 1):
                return
            await cur.execute("SHOW WARNINGS")
            if not any(w[1] == ER_TABLE_EXISTS for w in await cur.fetchall()):
                return
        try:   # an existing table: the transaction's partition
            await cur.execute(f"ALTER TABLE `{db}`.`{table}` ADD PARTITION "
                              f"(PARTITION p{trans} VALUES IN ({trans}))")
        except asyncmy.errors.OperationalError as e:
            if e.args[0] != ER_DUP_PARTITION:
                raise


async def _more(stream) -> bool:
    """Whether the stream still holds data (it must not: the header's sizes are the truth)."""
    try:
        while True:
            msg = await stream.__anext__()
            if msg.data:
                return True
    except StopAsyncIteration:
        return False


def _checked_header(h) -> tuple[str, int]:
    """(database, transaction id) of a bundle header whose every file is checked: a table
    name, a size, and a CREATE of that table with the transaction's partition."""
    db = _name(h.database, "database")
    if h.trans_id <= 0:
        raise ContributionError("trans_id must be > 0")
    trans = int(h.trans_id)
    for f in h.files:
        _name(f.table, "table")
        if f.bytes < 0:
            raise ContributionError(f"{f.table}: negative size")
        if f.create_sql and (
                not f.create_sql.startswith(f"CREATE TABLE IF NOT EXISTS `{db}`.`{f.table}`")
                or f"(PARTITION p{trans} VALUES IN ({trans}))" not in f.create_sql):
            raise ContributionError("create_sql must create the contribution's table "
                                    "with the transaction's partition")
    return db, trans


class _BundleCall:
    """One LoadBundle call's files: read from the stream in order, each small file spooled
    whole and loaded by a task (up to `load_connections` at once), each big one piped into its LOAD
    DATA as it arrives. `failed` collects what went wrong; `rows` what each file loaded."""

    def __init__(self, stream, first_data: bytes, h, db: str, trans: int, pool, ready: dict,
                 spool_dir: Path, limits: BundleLimits):
        self.stream, self.h, self.db, self.trans = stream, h, db, trans
        self.pool, self.ready, self.spool_dir = pool, ready, spool_dir
        self.pending = memoryview(first_data)
        self.waited = 0.0                     # seconds spent waiting for the stream
        self.rows: list[int] = [0] * len(h.files)
        self.slots = asyncio.Semaphore(limits.load_connections)
        self.spool_max = limits.spool_max_bytes
        self.tasks: list[asyncio.Task] = []
        self.failed: list[BaseException] = []
        # Spool files are reused from file to file (one per load slot at most): on a
        # filesystem where creating a file costs ~0.3 ms of kernel time (ext4 without a
        # journal skips recently deleted inodes one by one), a new file per small chunk file
        # was ~20% of a 5,000-chunk ingest. Each stays open and is rewritten in place
        # (pwrite, then ftruncate to the file's size): reopening it with O_TRUNC cost
        # ~0.5 ms a file (ext4 starts writing back a file truncated to 0 when it is closed),
        # a third of a worker's event loop in that ingest.
        self.spools: list[_Spool] = []
        self.spools_made: list[_Spool] = []

    def spool(self) -> "_Spool":
        if self.spools:
            return self.spools.pop()
        spool = _Spool(self.spool_dir / f"bundle-{uuid.uuid4().hex}.csv")
        self.spools_made.append(spool)
        return spool

    async def receive_and_load(self) -> None:
        try:
            for i, f in enumerate(self.h.files):
                await self.slots.acquire()
                if self.failed:
                    self.slots.release()
                    break
                if f.bytes > self.spool_max:
                    await self.piped(i, f)
                    continue
                spool = self.spool()
                try:
                    remaining = f.bytes
                    while remaining:
                        piece = await self.take(remaining, f)
                        spool.write(piece, f.bytes - remaining)
                        remaining -= len(piece)
                    spool.end(f.bytes)
                except BaseException:
                    self.spools.append(spool)
                    self.slots.release()
                    raise
                self.tasks.append(asyncio.ensure_future(self.spooled(i, f, spool)))
        finally:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            for spool in self.spools_made:
                spool.remove()

    async def take(self, n: int, f) -> memoryview:
        """The next `n` bytes of the stream (at most; a piece at a time)."""
        while not self.pending:
            t = time.monotonic()
            try:
                msg = await self.stream.__anext__()
            except StopAsyncIteration:
                raise ContributionError(
                    f"the bundle stream ended before the end of {f.table} (contribution "
                    f"{f.contribution_id})")
            self.waited += time.monotonic() - t
            self.pending = memoryview(msg.data)
        piece, self.pending = self.pending[:n], self.pending[n:]
        return piece

    def named(self, f, e: asyncmy.errors.MySQLError) -> ContributionError:
        code = e.args[0] if e.args else 0
        return ContributionError(f"LOAD DATA into {self.db}.{f.table} (contribution "
                                 f"{f.contribution_id}): MariaDB error {code}: {e.args[-1]}")

    def check(self, f, warnings) -> None:
        if warnings:
            raise ContributionError(
                f"LOAD DATA into {self.db}.{f.table} (contribution {f.contribution_id}) "
                "reported: " + "; ".join(f"{w[1]} {w[2]}" for w in warnings))

    async def spooled(self, i: int, f, spool: "_Spool") -> None:
        """A small file, whole on disk: one statement (a pipe's hand-shake costs more)."""
        try:
            await self.ready[f.table]
            async with self.pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute(load_sql(spool.path, self.db, f.table, f.columns, self.h,
                                               self.trans))
                    self.rows[i] = cur.rowcount
                    warnings = []
                    if getattr(conn._result, "warning_count", 1):
                        await cur.execute("SHOW WARNINGS LIMIT 5")
                        warnings = await cur.fetchall()
            self.check(f, warnings)
        except asyncmy.errors.MySQLError as e:
            self.failed.append(self.named(f, e))
        except BaseException as e:
            self.failed.append(e)
        finally:
            self.spools.append(spool)     # free for the next file (removed at the end)
            self.slots.release()

    async def piped(self, i: int, f) -> None:
        """A big file through a named pipe, fed here as its bytes arrive."""
        path = self.spool_dir / f"bundle-{uuid.uuid4().hex}.fifo"
        try:
            await self.ready[f.table]
            async with self.pool.acquire() as conn:
                load = FifoLoad(path, load_sql(path, self.db, f.table, f.columns, self.h, self.trans),
                                conn)
                try:
                    await load.start()
                    remaining = f.bytes
                    while remaining:
                        piece = await self.take(remaining, f)
                        await load.write(piece)
                        remaining -= len(piece)
                    self.rows[i], warnings = await load.finish()
                except asyncmy.errors.MySQLError as e:
                    raise self.named(f, e)
                finally:
                    await load.close()
            self.check(f, warnings)
        finally:
            self.slots.release()


class _Spool:
    """A spool file kept open for the bundle's life and rewritten in place for each small
    file: its bytes written at their offsets, then cut to the file's size (see
    _BundleCall.__init__ for why not reopened)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: memoryview, offset: int) -> None:
        while data:
            n = os.pwrite(self.fd, data, offset)
            data, offset = data[n:], offset + n

    def end(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def remove(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)
