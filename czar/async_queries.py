"""Async queries: submit now, run in the background, read the result later by id — from the
MySQL frontend (`SUBMIT`, `qserv_result(id)`, `CANCEL`) or the HTTP API (czar/http_query.py).

Why the czar keeps them itself: a full scan runs for minutes to hours; its user must be able
to disconnect, come back, see progress, fetch, cancel — and a czar restart must not lose what
finished nor what was asked (the original aborts everything running when it restarts).

How one runs (`_run`): the text is checked on the shadows and planned as a sync query would
be (only parse and metadata errors come back at submit), registered QUEUED (czar/registry.py),
and started once its user has fewer than `async_max_running` queries executing. Its rows go
through the same QueryEngine.execute as a sync query's, then into `qservResult.result_<id>`
(one LOAD DATA INFILE per few MB of OUTFILE text, czar/result_text.py), so the result is
typed by MariaDB exactly as the shadow check typed it. The query fails with FAILED_LR as soon
as the stored text passes `async_max_result_bytes` (the czar never holds more than one load's
worth), and is ABORTED (reason "timeout") past `async_max_execution_s`.

After a restart (`recover`): finished results are still tables; QUEUED ones are started;
EXECUTING ones (the czar died under them) are queued again — they only read — until they
have been tried `async_max_attempts` times, then ABORTED with reason "restart".

Results expire `async_result_ttl_s` after the query ends (the sweep drops the table and the
Parquet copy, the row stays as EXPIRED).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncmy
import sqlglot
from sqlglot import exp

from czar import deadline
from czar.analysis.spatial import shadow_text
from czar.engine import BINARY_CHARSET, QueryEngine, ShadowResult
from czar.registry import (ABORTED, COMPLETED, EXECUTING, EXPIRED, FAILED, FAILED_LR, FINISHED,
                           PROGRESS, QUEUED, RUNNING, Registry)
from czar.result_text import batch_text
from qserv.errors import (ER_NOT_SUPPORTED_YET, ER_PARSE_ERROR, ER_TOO_BIG_RESULT,
                          ER_UNKNOWN_ERROR, QservError)
from qserv.metadata import RESULT_DB

log = logging.getLogger("czar.async")
LOAD_BYTES = 8 << 20        # OUTFILE text gathered before one LOAD DATA INFILE
ER_QSERV_CANCEL = 4005      # the original's code for a CANCEL/KILL of an unknown query
UNSIGNED_FLAG = 32


class QueryNotFound(QservError):
    def __init__(self, qid):
        super().__init__(ER_QSERV_CANCEL, f"Unknown query ID: {qid}")


@dataclass
class Prepared:
    plan: Any
    shadow: ShadowResult
    columns: list[dict]


def result_table(qid: int) -> str:
    return f"`{RESULT_DB}`.`result_{qid}`"


class AsyncQueries:
    def __init__(self, engine: QueryEngine, registry: Registry, admin_user: str):
        self.engine = engine
        self.config = engine.config
        self.registry = registry
        self.admin_user = admin_user
        self.spool = Path(engine.dispatcher.spool_dir)
        self.results_dir = Path(self.config.dir) / "results"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.tasks: dict[int, asyncio.Task] = {}
        self.prepared: dict[int, Prepared] = {}
        self.abort_reason: dict[int, str] = {}
        self.users: dict[int, str] = {}
        self.sync_ids: set[int] = set()   # POST /query: run through here, not capped
        self._sweeper: asyncio.Task | None = None
        self.stopping = False
        self._parquet_locks: dict[int, asyncio.Lock] = {}

    # ---- visibility ----------------------------------------------------------------------
    def is_admin(self, user: str) -> bool:
        return user == self.admin_user

    async def visible(self, user: str, qid: int) -> dict[str, Any]:
        """The query's row when `user` may see it (its owner, or the admin); else
        QueryNotFound — another user's query reads as unknown, never as forbidden."""
        row = await self.registry.get(qid)
        if row is None or (row["user"] != user and not self.is_admin(user)):
            raise QueryNotFound(qid)
        return row

    # ---- submit --------------------------------------------------------------------------
    async def prepare(self, text: str, database: str | None) -> Prepared:
        """Check the query as a sync one is checked (MariaDB on the shadows: its errors and
        column names; then the analysis and the plan), with the server's default settings."""
        try:
            expressions = [e for e in sqlglot.parse(text, read="mysql") if e]
        except sqlglot.errors.ParseError as e:
            raise QservError(ER_PARSE_ERROR, f"the query could not be parsed: {e}") from None
        if len(expressions) != 1 or not isinstance(expressions[0], exp.Select) \
                or not expressions[0].args.get("from_"):
            raise QservError(ER_NOT_SUPPORTED_YET, "only one SELECT over catalog tables can be "
                                                   "submitted as an async query")
        expression = expressions[0]
        sc = await self.engine.shadows.acquire(database)
        shadow_sql, typed = shadow_text(text)
        try:
            await sc.configure(database, {}, {}, 0)
            async with sc.conn.cursor() as cur:
                await cur.execute(shadow_sql)
                description = list(cur.description or [])
                fields = list(cur._result.fields or [])
                await cur.fetchall()
        except asyncmy.errors.MySQLError as e:
            self.engine.shadows.release(sc, reusable=False)
            raise QservError(e.args[0], e.args[1]) from None
        self.engine.shadows.release(sc)
        items = expression.expressions
        for i, name in typed.items():
            if i < len(description) and i < len(items) and not isinstance(items[i], exp.Alias):
                description[i] = (name,) + tuple(description[i][1:])
        binary = [f.charsetnr == BINARY_CHARSET for f in fields]
        shadow = ShadowResult(description, binary)
        plan = await self.engine.plan(expression, database, shadow.names)
        columns = [{"name": d[0], "type": d[1], "binary": b, "scale": d[5],
                    "unsigned": bool(f.flags & UNSIGNED_FLAG)}
                   for d, b, f in zip(description, binary, fields)]
        return Prepared(plan, shadow, columns)

    async def submit(self, user: str, text: str, database: str | None, request_id: str | None = None,
                     max_rows: int | None = None, qtype: str = "ASYNC") -> dict[str, Any]:
        """Register and queue a query; its row (the existing one for a `request_id` this user
        used before: a resubmission does not run the query twice)."""
        if request_id:
            found = await self.registry.by_request(user, request_id)
            if found is not None:
                return found
        if self.config.async_user_result_bytes and \
                await self.registry.stored_bytes(user) >= self.config.async_user_result_bytes:
            raise QservError(ER_TOO_BIG_RESULT, f"user {user} already stores "
                             f"{self.config.async_user_result_bytes} bytes of results (quota); "
                             "delete some (CALL qserv_result_delete(id))")
        prepared = await self.prepare(text, database)
        qid = self.registry.new_id()
        chunks = len(prepared.plan.chunks) if prepared.plan.partitioned else 1
        try:
            await self.registry.insert(qid, user, qtype, QUEUED, database or "", text, chunks,
                                       request_id=request_id)
        except asyncmy.errors.IntegrityError:   # the same request_id, submitted concurrently
            found = await self.registry.by_request(user, request_id or "")
            if found is not None:
                return found
            raise
        await self.registry.update(qid, result_location=f"table:result_{qid}",
                                   result_schema=json.dumps({"columns": prepared.columns,
                                                             "max_rows": max_rows}))
        self.prepared[qid] = prepared
        self.users[qid] = user
        self.schedule()
        return await self.registry.get(qid)

    # ---- scheduling ----------------------------------------------------------------------
    def running_of(self, user: str) -> int:
        """The user's async queries executing (a sync one over HTTP is not capped)."""
        return sum(1 for qid in self.tasks if self.users.get(qid) == user
                   and qid not in self.sync_ids)

    def schedule(self) -> None:
        """Start the oldest queued queries of every user below the cap (called on submit and
        whenever a query ends)."""
        asyncio.ensure_future(self._schedule())

    async def _schedule(self) -> None:
        queued = await self.registry.list(states=[QUEUED], limit=10_000)
        for row in sorted(queued, key=lambda r: r["id"]):
            qid, user = row["id"], row["user"]
            if qid in self.tasks:
                continue
            self.users[qid] = user
            if row["type"] == "SYNC":
                self.sync_ids.add(qid)
            elif self.running_of(user) >= max(1, self.config.async_max_running):
                continue
            self.tasks[qid] = asyncio.create_task(self._run(row))

    async def _run(self, row: dict[str, Any]) -> None:
        qid = row["id"]
        try:
            if not await self.registry.transition(qid, (QUEUED,), EXECUTING,
                                                  attempts=row["attempts"] + 1):
                return   # cancelled while queued
            await self._execute(qid, row)
        except Exception:  # noqa: BLE001 - recorded in the registry by _execute; a bug here too
            log.exception("async query %s failed", qid)
        finally:
            self.tasks.pop(qid, None)
            self.prepared.pop(qid, None)
            self.sync_ids.discard(qid)
            self.schedule()

    async def _execute(self, qid: int, row: dict[str, Any]) -> None:
        progress = self.registry.progress.get(qid)
        PROGRESS.set(progress)
        table = result_table(qid)
        schema = row.get("result_schema") or {}
        max_rows = schema.get("max_rows") if isinstance(schema, dict) else None
        stored = 0
        try:
            prepared = self.prepared.get(qid) or await self.prepare(row["query"], row["db"] or None)
            await self._drop(qid)
            await self._create(table, row["query"], row["db"] or None)
            limit = self.config.async_max_execution_s or None
            with deadline.started(limit):
                async with asyncio.timeout(limit):
                    result = await self.engine.execute(prepared.plan, prepared.shadow)
                    stored, rows, truncated = await self._store(qid, table, result,
                                                                len(prepared.shadow.description),
                                                                progress, max_rows)
        except asyncio.CancelledError:
            if self.stopping:   # a czar stop is not a cancel: the next start runs it again
                await asyncio.shield(self._requeue(qid))
            else:
                reason = self.abort_reason.pop(qid, "user")
                await asyncio.shield(self._end_aborted(qid, reason))
            raise
        except Exception as e:   # noqa: BLE001 - recorded as the query's end below
            await self._failed(qid, e)
            return
        schema = {"columns": prepared.columns, "truncated": truncated, "max_rows": max_rows}
        chunks_total = row["chunks_total"]
        if not await self.registry.transition(qid, (EXECUTING,), COMPLETED, result_rows=rows,
                                              result_bytes=stored, chunks_done=chunks_total,
                                              result_schema=json.dumps(schema),
                                              expires_at=self._expiry()):
            await self._drop(qid)   # cancelled at the very end: the cancel won

    async def _failed(self, qid: int, error: Exception) -> None:
        """The query's end after `error`: ABORTED when a cancel asked for it (the cancel may
        surface as a worker's "interrupted" error rather than as this task's cancellation),
        else FAILED (FAILED_LR for a result over a limit) with the error's code and text."""
        await self._drop(qid)
        if qid in self.abort_reason:
            await self._end_aborted(qid, self.abort_reason.pop(qid))
            return
        if isinstance(error, TimeoutError):
            await self.registry.transition(
                qid, (EXECUTING,), ABORTED, abort_reason="timeout", error_code=1969,
                error=f"the query ran longer than async_max_execution_s = "
                      f"{self.config.async_max_execution_s} s", expires_at=self._expiry())
        elif isinstance(error, QservError):
            state = FAILED_LR if error.code == ER_TOO_BIG_RESULT else FAILED
            await self.registry.transition(qid, (EXECUTING,), state, error_code=error.code,
                                           error=error.message, expires_at=self._expiry())
        elif isinstance(error, asyncmy.errors.MySQLError):
            code = error.args[0] if error.args and isinstance(error.args[0], int) else ER_UNKNOWN_ERROR
            await self.registry.transition(qid, (EXECUTING,), FAILED, error_code=code,
                                           error=str(error.args[-1]), expires_at=self._expiry())
        else:
            log.error("async query %s: %s", qid, error, exc_info=error)
            await self.registry.transition(qid, (EXECUTING,), FAILED, error_code=ER_UNKNOWN_ERROR,
                                           error=f"internal error: {type(error).__name__}: {error}",
                                           expires_at=self._expiry())

    def _expiry(self) -> float:
        return time.time() + self.config.async_result_ttl_s

    async def _end_aborted(self, qid: int, reason: str) -> None:
        await self._drop(qid)
        await self.registry.transition(qid, (QUEUED, EXECUTING), ABORTED, abort_reason=reason,
                                       error_code=1317, error=f"query aborted ({reason})",
                                       expires_at=self._expiry())

    async def _requeue(self, qid: int) -> None:
        await self._drop(qid)
        await self.registry.transition(qid, (EXECUTING,), QUEUED)

    async def _create(self, table: str, text: str, database: str | None) -> None:
        """The result table, with the columns and types MariaDB gives the query on the
        shadows (the same types a sync query's result has)."""
        shadow_sql, _ = shadow_text(text)
        async with self.engine.pool.acquire() as conn, conn.cursor() as cur:
            if database:
                await cur.execute(f"USE `{database.replace('`', '``')}`")
            try:
                await cur.execute(f"CREATE TABLE {table} ENGINE=MyISAM AS "
                                  f"SELECT * FROM ({shadow_sql}) AS qs_async WHERE 0")
            finally:
                await cur.execute(f"USE `{RESULT_DB}`")

    async def _store(self, qid: int, table: str, result, ncols: int, progress, max_rows):
        """Rows of `result` into `table`; (bytes stored, rows, truncated by max_rows)."""
        limit = self.config.async_max_result_bytes
        buf, stored, rows, truncated, part = bytearray(), 0, 0, False, 0
        batches = result.batches
        try:
            async for batch in batches:
                if max_rows is not None and rows + len(batch) > max_rows:
                    batch, truncated = batch[:max_rows - rows], True
                text = batch_text(batch, ncols)
                rows += len(batch)
                stored += len(text)
                if progress is not None:
                    progress.collected(len(batch), len(text))
                if limit and stored > limit:
                    raise QservError(ER_TOO_BIG_RESULT, f"the result of query {qid} is larger "
                                     f"than async_max_result_bytes = {limit} bytes; add a "
                                     "restriction or select fewer columns")
                buf += text
                if len(buf) >= LOAD_BYTES:
                    part += 1
                    await self._load(qid, table, buf, part)
                    buf = bytearray()
                if truncated:
                    break
        finally:
            with contextlib.suppress(Exception):
                await batches.aclose()
        if buf:
            await self._load(qid, table, buf, part + 1)
        return stored, rows, truncated

    async def _load(self, qid: int, table: str, text: bytes, part: int) -> None:
        path = self.spool / f"async_{qid}-{part}.tsv"
        await asyncio.to_thread(path.write_bytes, text)
        try:
            async with self.engine.pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(f"LOAD DATA INFILE '{path}' INTO TABLE {table} CHARACTER SET binary")
        finally:
            path.unlink(missing_ok=True)

    async def _drop(self, qid: int) -> None:
        async with self.engine.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(f"DROP TABLE IF EXISTS {result_table(qid)}")
        for path in (self.parquet_path(qid),):
            path.unlink(missing_ok=True)

    def parquet_path(self, qid: int) -> Path:
        return self.results_dir / f"result_{qid}.parquet"

    # ---- cancel, delete, read ------------------------------------------------------------
    async def cancel(self, user: str, qid: int, reason: str = "user") -> dict[str, Any]:
        """Stop a queued or executing query: its chunk queries on workers are cancelled (the
        engine's own cancel path), its result table dropped. Raises QueryNotFound for an
        unknown, foreign or finished query (the original's 'Unknown or finished query ID')."""
        row = await self.visible(user, qid)
        if row["state"] not in RUNNING:
            raise QservError(ER_QSERV_CANCEL, f"Unknown or finished query ID: {qid}")
        task = self.tasks.get(qid)
        killer = self.registry.killers.get(qid)
        if killer is not None:   # a sync query over MySQL: its statement is killed
            await killer()
        elif task is not None:
            self.abort_reason[qid] = reason
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if (await self.registry.get(qid) or {}).get("state") in RUNNING:
                await self._end_aborted(qid, reason)   # the cancel cut its own ending short
        else:
            await self._end_aborted(qid, reason)
        self.abort_reason.pop(qid, None)
        return await self.registry.get(qid)

    async def delete_result(self, user: str, qid: int) -> dict[str, Any]:
        """Delete a finished query's result (the row stays, EXPIRED); a running one is
        cancelled first."""
        row = await self.visible(user, qid)
        if row["state"] in RUNNING:
            await self.cancel(user, qid)
        await self._drop(qid)
        await self.registry.transition(qid, FINISHED, EXPIRED)
        return await self.registry.get(qid)

    async def completed(self, user: str, qid: int) -> dict[str, Any]:
        """The row of a COMPLETED query whose result can be read; a clear error otherwise."""
        row = await self.visible(user, qid)
        state = row["state"]
        if state == COMPLETED:
            return row
        if state in RUNNING:
            raise QservError(ER_UNKNOWN_ERROR, f"query {qid} is {state} "
                             f"({row['chunks_done']}/{row['chunks_total']} chunks done); its "
                             "result is not ready yet")
        if state == EXPIRED:
            raise QservError(1146, f"Table '{RESULT_DB}.result_{qid}' doesn't exist (query "
                             f"{qid} is EXPIRED: its result was deleted)")
        detail = row.get("error") or row.get("abort_reason") or ""
        raise QservError(row.get("error_code") or ER_UNKNOWN_ERROR,
                         f"query {qid} is {state}: {detail}")

    async def mark_returned(self, qid: int) -> None:
        await self.registry.update(qid, returned=time.time())

    # ---- restart and expiry --------------------------------------------------------------
    async def recover(self) -> None:
        """After a czar (re)start: what was executing runs again, within the attempt limit;
        sync ones (their client is gone) are aborted; then the queue starts."""
        for row in await self.registry.list(states=[EXECUTING], limit=100_000):
            qid = row["id"]
            await self._drop(qid)
            if row["type"] == "SYNC":
                await self.registry.transition(qid, (EXECUTING,), ABORTED, abort_reason="restart",
                                               error_code=1317,
                                               error="the czar restarted during the query")
            elif row["attempts"] >= self.config.async_max_attempts:
                await self.registry.transition(
                    qid, (EXECUTING,), ABORTED, abort_reason="restart", error_code=1317,
                    error=f"the czar restarted during each of {row['attempts']} attempts "
                          "(async_max_attempts)", expires_at=self._expiry())
            else:
                await self.registry.transition(qid, (EXECUTING,), QUEUED)
                log.info("async query %s: run again after a restart (attempt %d)", qid,
                         row["attempts"] + 1)
        for path in self.spool.glob("async_*.tsv"):
            path.unlink(missing_ok=True)
        self.schedule()

    async def sweep(self, now: float | None = None) -> int:
        """Expire finished queries past their time: result table and files deleted; sync
        queries are forgotten as long after they ended."""
        n = 0
        now = time.time() if now is None else now
        await self.registry.prune_sync(now - self.config.async_result_ttl_s)
        for row in await self.registry.expired(now):
            await self._drop(row["id"])
            if await self.registry.transition(row["id"], FINISHED, EXPIRED):
                n += 1
        return n

    async def start(self) -> None:
        await self.recover()
        self._sweeper = asyncio.create_task(self._sweep_loop())

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.async_sweep_interval_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("expiry sweep failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.stopping = True
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
