"""The query registry: one row per user query, sync or async, in the czar's MariaDB
(`qservMeta.queries`), so that progress, results and errors outlive a client's connection and
the czar itself (DESIGN.md §11).

Why a table and not memory: async queries are submitted, left, and picked up later, maybe
after a czar restart; the MySQL views (`SHOW PROCESSLIST`, `information_schema.queries`) and
the HTTP routes read the same rows.

States (the original's names, plus QUEUED and EXPIRED):

    QUEUED -> EXECUTING -> COMPLETED | FAILED | FAILED_LR | ABORTED  -> EXPIRED
      \\------------------------------------------------> ABORTED

Every change of state is a compare-and-set (`UPDATE ... WHERE id = ? AND state IN (...)`):
a cancel racing with the query's own end gives one winner, never a COMPLETED query whose
result table a cancel dropped. EXPIRED keeps the metadata (an expired id never reads as an
unknown query) but not the result.

Progress of running queries (chunks done, rows and bytes collected) changes many times a
second: it is kept in memory (`Progress`) and written with the state changes and every
`FLUSH_S`; reads of a running query take the memory copy.

Sync queries (a look-up takes a few milliseconds) must not pay two more round trips each:
while they run they live only in memory (`live`), and their finished rows are written in
batches every `FLUSH_S`. A sync query running when the czar dies is thus not recorded; its
client saw the connection drop.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import asyncmy

from qserv.metadata import META_DB

log = logging.getLogger("czar.registry")

TABLE = f"{META_DB}.queries"
QUEUED, EXECUTING, COMPLETED, FAILED, FAILED_LR, ABORTED, EXPIRED = (
    "QUEUED", "EXECUTING", "COMPLETED", "FAILED", "FAILED_LR", "ABORTED", "EXPIRED")
RUNNING = (QUEUED, EXECUTING)
FINISHED = (COMPLETED, FAILED, FAILED_LR, ABORTED)
STATES = RUNNING + FINISHED + (EXPIRED,)
FIRST_ID = 100_000  # query ids are six digits and more, as the original's
FLUSH_S = 1.0

DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id BIGINT NOT NULL PRIMARY KEY,
    user VARCHAR(64) NOT NULL,
    type ENUM('SYNC', 'ASYNC') NOT NULL,
    state VARCHAR(16) NOT NULL,
    db VARCHAR(64) NOT NULL DEFAULT '',
    query MEDIUMTEXT NOT NULL,
    chunks_total INT NOT NULL DEFAULT 0,
    chunks_done INT NOT NULL DEFAULT 0,
    rows_collected BIGINT NOT NULL DEFAULT 0,
    bytes_collected BIGINT NOT NULL DEFAULT 0,
    result_rows BIGINT NULL,
    result_bytes BIGINT NULL,
    submitted DOUBLE NOT NULL,
    updated DOUBLE NOT NULL,
    completed DOUBLE NULL,
    returned DOUBLE NULL,
    error_code INT NULL,
    error TEXT NULL,
    abort_reason VARCHAR(16) NULL,
    request_id VARCHAR(128) NULL,
    expires_at DOUBLE NULL,
    result_location VARCHAR(128) NULL,
    result_schema MEDIUMTEXT NULL,
    attempts INT NOT NULL DEFAULT 0,
    UNIQUE KEY user_request (user, request_id),
    KEY by_state (state),
    KEY by_user (user, id)
) ENGINE=InnoDB"""

COLUMNS = ("id", "user", "type", "state", "db", "query", "chunks_total", "chunks_done",
           "rows_collected", "bytes_collected", "result_rows", "result_bytes", "submitted",
           "updated", "completed", "returned", "error_code", "error", "abort_reason",
           "request_id", "expires_at", "result_location", "result_schema", "attempts")


def chunks_done(n: int) -> None:
    """Called by the dispatcher when a job's `n` chunks are done: counts them for the query
    running in this context (its task set PROGRESS; tasks it starts inherit it)."""
    p = PROGRESS.get()
    if p is not None:
        p.chunks(n)


@dataclass
class Progress:
    """What a running query has done so far (in memory; flushed to the table)."""
    chunks_done: int = 0
    rows: int = 0
    bytes: int = 0
    updated: float = field(default_factory=time.time)
    dirty: bool = False

    def chunks(self, n: int) -> None:
        self.chunks_done += n
        self.updated, self.dirty = time.time(), True

    def collected(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        self.updated, self.dirty = time.time(), True


PROGRESS: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("qserv_progress",
                                                                           default=None)


class Registry:
    def __init__(self, pool: asyncmy.Pool):
        self.pool = pool
        self.progress: dict[int, Progress] = {}
        self._next_id = FIRST_ID
        self.live: dict[int, dict[str, Any]] = {}   # running sync queries
        # running sync query -> how to stop it (the frontend's KILL QUERY of its connection)
        self.killers: dict[int, Callable[[], Awaitable[None]]] = {}
        self._finished_sync: list[dict[str, Any]] = []
        self._flusher: asyncio.Task | None = None
        self.changed = asyncio.Condition()   # notified on every state change (long polls)

    async def _execute(self, sql: str, args=None) -> int:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            return cur.rowcount

    async def _fetch(self, sql: str, args=None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in await cur.fetchall()]

    async def start(self) -> None:
        """Create the table if needed; ids go on from the largest one ever given."""
        await self._execute(DDL)
        rows = await self._fetch(f"SELECT MAX(id) AS m FROM {TABLE}")
        self._next_id = max(FIRST_ID, (rows[0]["m"] or 0) + 1)
        self._flusher = asyncio.create_task(self._flush_loop())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.flush()

    def new_id(self) -> int:
        qid, self._next_id = self._next_id, self._next_id + 1
        return qid

    async def insert(self, qid: int, user: str, qtype: str, state: str, db: str, query: str,
                     chunks_total: int, request_id: str | None = None) -> None:
        now = time.time()
        await self._execute(
            f"INSERT INTO {TABLE} (id, user, type, state, db, query, chunks_total, submitted, "
            "updated, request_id, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)",
            (qid, user, qtype, state, db or "", query, chunks_total, now, now, request_id))
        if state in RUNNING:
            self.progress[qid] = Progress()
        await self._notify()

    def sync_started(self, user: str, db: str, query: str, chunks_total: int) -> int:
        qid, now = self.new_id(), time.time()
        self.live[qid] = dict.fromkeys(COLUMNS) | dict(
            id=qid, user=user, type="SYNC", state=EXECUTING, db=db or "", query=query,
            chunks_total=chunks_total, chunks_done=0, rows_collected=0, bytes_collected=0,
            submitted=now, updated=now, attempts=1)
        self.progress[qid] = Progress()
        return qid

    def sync_ended(self, qid: int, state: str, rows: int, error_code: int | None = None,
                   error: str | None = None) -> None:
        row = self.live.pop(qid, None)
        p = self.progress.pop(qid, None)
        self.killers.pop(qid, None)
        if row is None:
            return
        now = time.time()
        row.update(state=state, updated=now, completed=now, result_rows=rows,
                   error_code=error_code, error=error,
                   chunks_done=p.chunks_done if p else 0, rows_collected=p.rows if p else rows,
                   bytes_collected=p.bytes if p else 0)
        if state == ABORTED:
            row["abort_reason"] = "user"
        self._finished_sync.append(row)

    async def transition(self, qid: int, frm: tuple[str, ...], to: str, **values) -> bool:
        """Compare-and-set: `qid` goes to state `to` only from one of `frm`; `values` are
        other columns set in the same statement. True when this call made the change."""
        now = time.time()
        values = {"state": to, "updated": now, **values}
        if to in FINISHED:
            values.setdefault("completed", now)
        p = self.progress.get(qid)
        if p is not None:
            values.setdefault("chunks_done", p.chunks_done)
            values.setdefault("rows_collected", p.rows)
            values.setdefault("bytes_collected", p.bytes)
        sets = ", ".join(f"{name} = %s" for name in values)
        marks = ", ".join(["%s"] * len(frm))
        changed = await self._execute(
            f"UPDATE {TABLE} SET {sets} WHERE id = %s AND state IN ({marks})",
            (*values.values(), qid, *frm)) == 1
        if changed:
            if to not in RUNNING:
                self.progress.pop(qid, None)
            elif qid not in self.progress:
                self.progress[qid] = Progress()
            await self._notify()
        return changed

    async def update(self, qid: int, **values) -> None:
        """Columns that are not the state (attempts, result schema ...)."""
        sets = ", ".join(f"{name} = %s" for name in values)
        await self._execute(f"UPDATE {TABLE} SET {sets} WHERE id = %s", (*values.values(), qid))

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def get(self, qid: int) -> dict[str, Any] | None:
        if qid in self.live:
            return self._live(dict(self.live[qid]))
        rows = await self._fetch(f"SELECT * FROM {TABLE} WHERE id = %s", (qid,))
        return self._live(rows[0]) if rows else None

    async def by_request(self, user: str, request_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(f"SELECT * FROM {TABLE} WHERE user = %s AND request_id = %s",
                                 (user, request_id))
        return self._live(rows[0]) if rows else None

    async def list(self, user: str | None = None, states: list[str] | None = None,
                   qtype: str | None = None, limit: int = 100, before: int | None = None,
                   ) -> list[dict[str, Any]]:
        """Newest first; `user` None: everyone's; `before`: ids below it (paging)."""
        where, args = [], []
        if user is not None:
            where.append("user = %s")
            args.append(user)
        if states:
            where.append(f"state IN ({', '.join(['%s'] * len(states))})")
            args += states
        if qtype:
            where.append("type = %s")
            args.append(qtype)
        if before is not None:
            where.append("id < %s")
            args.append(before)
        sql = f"SELECT * FROM {TABLE}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %s"
        found = [self._live(r) for r in await self._fetch(sql, (*args, limit))]
        if qtype in (None, "SYNC") and (not states or EXECUTING in states):
            found += [self._live(dict(r)) for r in self.live.values()
                      if (user is None or r["user"] == user) and (before is None or r["id"] < before)]
            found.sort(key=lambda r: -r["id"])
        return found[:limit]

    async def stored_bytes(self, user: str) -> int:
        rows = await self._fetch(f"SELECT COALESCE(SUM(result_bytes), 0) AS b FROM {TABLE} "
                                 "WHERE user = %s AND state = %s AND type = 'ASYNC'",
                                 (user, COMPLETED))
        return int(rows[0]["b"])

    async def expired(self, now: float) -> list[dict[str, Any]]:
        return await self._fetch(
            f"SELECT id, result_location FROM {TABLE} WHERE expires_at IS NOT NULL AND "
            f"expires_at < %s AND state IN ({', '.join(['%s'] * len(FINISHED))})",
            (now, *FINISHED))

    async def prune_sync(self, before: float) -> int:
        """Forget sync queries finished before `before` (a look-up per row would otherwise
        grow the table without end); async ones stay, EXPIRED."""
        return await self._execute(f"DELETE FROM {TABLE} WHERE type = 'SYNC' AND completed < %s "
                                   "LIMIT 100000", (before,))

    def _live(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with the in-memory progress of a running query."""
        p = self.progress.get(row["id"])
        if p is not None and row["state"] in RUNNING:
            row.update(chunks_done=p.chunks_done, rows_collected=p.rows, bytes_collected=p.bytes,
                       updated=max(row["updated"], p.updated))
        if row.get("result_schema"):
            row["result_schema"] = json.loads(row["result_schema"])
        return row

    async def flush(self) -> None:
        if self._finished_sync:
            rows, self._finished_sync = self._finished_sync, []
            async with self.pool.acquire() as conn, conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES "
                    f"({', '.join(['%s'] * len(COLUMNS))})", [tuple(r[c] for c in COLUMNS) for r in rows])
        for qid, p in list(self.progress.items()):
            if p.dirty and qid not in self.live:
                p.dirty = False
                await self._execute(
                    f"UPDATE {TABLE} SET chunks_done = %s, rows_collected = %s, "
                    f"bytes_collected = %s, updated = %s WHERE id = %s AND state = %s",
                    (p.chunks_done, p.rows, p.bytes, p.updated, qid, EXECUTING))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("progress flush failed")
