"""Transactions: start, commit, abort (every move checked by states.transition and written
compare-and-set). A part of `IngestController` (controller.py)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from contextlib import contextmanager

import grpc

from czar.ingest.schema import FAILED, FINISHED, STARTED, IngestError, _trans_json, check_name, log
from czar.ingest.states import TRANSACTION, IllegalTransition, transition
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2 as pb


class Transactions:
    async def trans_row(self, trans_id: int) -> dict:
        rows = await self.sql(f"SELECT id, db, state, context, begin_time, end_time, error FROM "
                              f"{META_DB}.ingest_trans WHERE id = %s", (trans_id,))
        if not rows:
            raise IngestError(f"no transaction {trans_id}", 404)
        return _trans_json(rows[0])

    async def transaction_of(self, q) -> dict:
        """The transaction a request names (`transaction_id`), as trans_row."""
        try:
            trans_id = int(q["transaction_id"])
        except (KeyError, ValueError):
            raise IngestError("transaction_id is required")
        return await self.trans_row(trans_id)

    async def transactions(self, db: str | None = None, state: str | None = None,
                           units: bool = False) -> list[dict]:
        """`units`: each transaction also lists the units it loads (a bundle's chunks)."""
        where, args = [], []
        if db:
            where.append("db = %s"), args.append(db)
        if state:
            where.append("state = %s"), args.append(state)
        cond = (" WHERE " + " AND ".join(where) if where else "")
        sql = (f"SELECT id, db, state, context, begin_time, end_time, error FROM "
               f"{META_DB}.ingest_trans" + cond + " ORDER BY id")
        out = [_trans_json(r) for r in await self.sql(sql, args)]
        if units:
            of: dict[int, list[str]] = defaultdict(list)
            for t, u in await self.sql(
                    f"SELECT trans_id, unit FROM {META_DB}.ingest_trans_units WHERE trans_id IN "
                    f"(SELECT id FROM {META_DB}.ingest_trans{cond})", args):
                of[t].append(u)
            for t in out:
                t["units"] = of.get(t["id"], [])
        return out

    async def start_transaction(self, body: dict) -> dict:
        db = check_name(body.get("database"), "database")
        row = await self.database_row(db)
        if row["state"] == "PUBLISHED":
            raise IngestError(f"{db} is published: no transaction can start", 409)
        context = str(body.get("context", ""))[:255]
        units = body.get("units") or []
        if not isinstance(units, list) or not all(isinstance(u, str) and len(u) <= 255 for u in units):
            raise IngestError("units must be a list of strings (at most 255 characters each)")

        def insert(m: MetadataStore):
            m.execute(f"INSERT INTO {META_DB}.ingest_trans (db, state, context, begin_time) "
                      "VALUES (%s, %s, %s, %s)", (db, STARTED, context, time.time()))
            trans_id = m.execute("SELECT LAST_INSERT_ID()")[0][0]
            if units:
                with m.conn.cursor() as cur:
                    cur.executemany(f"INSERT IGNORE INTO {META_DB}.ingest_trans_units VALUES "
                                    "(%s, %s, %s)", [(trans_id, db, u) for u in units])
            return trans_id
        trans_id = await self.meta(insert)
        return {"transaction": await self.trans_row(trans_id)}

    async def _set_state(self, t: dict, event: str, **columns) -> bool:
        """Apply `event` to transaction `t` (a row read a moment ago): the move comes from
        states.transition (409 when it cannot happen) and is written compare-and-set on the
        state it was read in, so of two requests racing for one transaction one wins and the
        other gets 409. False: the event was a repeat already applied (nothing written)."""
        try:
            move = transition(TRANSACTION, t["state"], event)
        except IllegalTransition as e:
            raise IngestError(f"transaction {t['id']} {e}", 409)
        if not move.changed:
            return False
        sets = ", ".join(["state = %s"] + [f"{c} = %s" for c in columns])

        def update(m: MetadataStore) -> int:
            with m.conn.cursor() as cur:
                return cur.execute(f"UPDATE {META_DB}.ingest_trans SET {sets} WHERE id = %s "
                                   "AND state = %s", (move.state, *columns.values(), t["id"], t["state"]))
        if move.state != t["state"] and not await self.meta(update):
            now = await self.trans_row(t["id"])
            raise IngestError(f"transaction {t['id']} changed to {now['state']} meanwhile", 409,
                              transaction=now)
        t["state"] = move.state
        return True

    def check_accepting(self, t: dict) -> None:
        """409 unless transaction `t` takes contributions: STARTED (states.TRANSACTION) and
        not being committed or aborted right now. Callers check and register the
        contribution with no await in between, so a commit cannot slip in."""
        try:
            transition(TRANSACTION, t["state"], "contribute")
        except IllegalTransition as e:
            raise IngestError(f"transaction {t['id']} {e}", 409)
        if t["id"] in self.closing:
            raise IngestError(f"transaction {t['id']} is {t['state']} (closing): no contribution "
                              "accepted", 409)

    @contextmanager
    def contributing(self, t: dict):
        """The span of one contribution request to transaction `t`: refused (409) unless the
        transaction takes contributions (check_accepting), counted in flight while it runs,
        so a commit waits for it and an abort can cancel its calls. Enter it with no await
        between the check of `t` and the enter."""
        self.check_accepting(t)
        inflight = self.inflight[t["id"]]
        inflight.count += 1
        inflight.done.clear()
        try:
            yield inflight
        finally:
            inflight.count -= 1
            if inflight.count == 0:
                inflight.done.set()
                self.inflight.pop(t["id"], None)

    async def mark_failed(self, ids: list[int], e: BaseException) -> str:
        """Record contributions `ids` as FAILED with what `e` says (also when the request
        was cancelled); returns the message."""
        message = str(e) if not isinstance(e, asyncio.CancelledError) else "cancelled"
        if ids:
            await asyncio.shield(self.sql(
                f"UPDATE {META_DB}.ingest_contrib SET status = %s, error = %s, end_time = %s "
                f"WHERE id IN ({', '.join(['%s'] * len(ids))})",
                [FAILED, message[:4000], time.time(), *ids]))
        return message

    async def end_transaction(self, trans_id: int, abort: bool) -> dict:
        t = await self.trans_row(trans_id)
        self.closing.add(trans_id)
        try:
            if abort:
                return {"transaction": await self._abort(t)}
            inflight = self.inflight.get(trans_id)
            if t["state"] == STARTED and inflight and inflight.count:
                raise IngestError(f"transaction {trans_id} has {inflight.count} contributions "
                                  "in flight: wait for them before committing", 409)
            failed = await self.sql(f"SELECT COUNT(*) FROM {META_DB}.ingest_contrib WHERE "
                                    "trans_id = %s AND status <> %s", (trans_id, FINISHED))
            if t["state"] == STARTED and failed[0][0]:
                raise IngestError(f"transaction {trans_id} has {failed[0][0]} failed "
                                  "contributions: abort it", 409)
            await self._set_state(t, "commit", end_time=time.time())
            return {"transaction": await self.trans_row(trans_id)}
        finally:
            self.closing.discard(trans_id)

    async def _abort(self, t: dict) -> dict:
        trans_id = t["id"]
        if not await self._set_state(t, "abort"):
            return t                                     # already ABORTED: idempotent
        inflight = self.inflight.get(trans_id)
        if inflight and inflight.count:
            for call in list(inflight.calls):
                call.cancel()
            try:
                await asyncio.wait_for(inflight.done.wait(), 60)
            except asyncio.TimeoutError:
                pass
        # Every worker: the transaction may have touched a replicated table anywhere, and a
        # chunk's replicas; an unreachable worker leaves the transaction ABORTING (retry).
        errors = []

        async def drop(w: str):
            for attempt in range(2):
                try:
                    reply = await self.stub(w).AbortTransaction(
                        pb.TransactionRequest(database=t["database"], trans_id=trans_id), timeout=300)
                    return reply.partitions_dropped
                except grpc.aio.AioRpcError as e:
                    if attempt == 0 and e.code() == grpc.StatusCode.UNAVAILABLE:
                        await self.reachable(w)      # restarted moments ago? one more try
                        continue
                    errors.append(f"{w}: {e.details() or e.code().name}")
                    return 0
        dropped = await asyncio.gather(*(drop(w.name) for w in self.config.workers))
        if errors:
            error = "abort incomplete (retry the abort): " + "; ".join(errors)
            await self.sql(f"UPDATE {META_DB}.ingest_trans SET error = %s WHERE id = %s",
                           (error, trans_id))
            raise IngestError(error, 503, transaction=await self.trans_row(trans_id))
        await self._set_state(t, "dropped", end_time=time.time())
        log.info("transaction %d aborted: %d partitions dropped", trans_id, sum(dropped))
        return await self.trans_row(trans_id)
