"""Contributions: one file (or a bundle of chunk files: bundle.py) streamed to every worker
holding its chunk. A part of `IngestController` (controller.py)."""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from typing import AsyncIterator

import grpc

from czar.ingest.schema import FINISHED, IN_PROGRESS, Dialect, IngestError, check_name
from qserv.catalog import CHUNK_COLUMNS, DIRECTOR
from qserv.metadata import META_DB, MetadataStore
from qserv.v1 import worker_pb2 as pb


class Contributions:
    async def contribute(self, q, body: AsyncIterator[bytes]) -> dict:
        """Stream one file (`body`) into `q['table']` (chunk `q['chunk']`, overlap or not) of
        transaction `q['transaction_id']`, on every worker that holds the chunk."""
        t = await self.transaction_of(q)
        trans_id, db = t["id"], t["database"]
        table, chunk, overlap, workers, target, columns = await self._destination(db, q)
        dialect = Dialect.from_query(q)
        contrib_id = None
        with self.contributing(t):
            try:
                def record(m: MetadataStore):
                    m.execute(f"INSERT INTO {META_DB}.ingest_contrib (trans_id, db, tbl, chunk, "
                              "overlap, workers, name, status, begin_time) VALUES "
                              "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                              (trans_id, db, table.name, chunk, int(overlap), ",".join(workers),
                               str(q.get("name", ""))[:1024], IN_PROGRESS, time.time()))
                    return m.execute("SELECT LAST_INSERT_ID()")[0][0]
                contrib_id = await self.meta(record)
                header = pb.ContributionHeader(
                    database=db, table=target, trans_id=trans_id,
                    create_sql=table.ddl(db, target, transactional=True, trans_id=trans_id),
                    columns=columns, **dialect.fields(), contribution_id=str(contrib_id))
                rows, nbytes = await self._stream(trans_id, workers, header, body)
                await self.sql(f"UPDATE {META_DB}.ingest_contrib SET status = %s, `rows` = %s, "
                               "bytes = %s, end_time = %s WHERE id = %s",
                               (FINISHED, rows, nbytes, time.time(), contrib_id))
            except BaseException as e:
                message = await self.mark_failed([contrib_id] if contrib_id is not None else [], e)
                if isinstance(e, IngestError):
                    e.ext.setdefault("contribution", contrib_id)
                    raise
                if isinstance(e, Exception):
                    raise IngestError(f"contribution to {db}.{target} failed: {message}", 400,
                                      contribution=contrib_id) from e
                raise
        return {"contrib": {"id": contrib_id, "transaction_id": trans_id, "database": db,
                            "table": table.name, "chunk": chunk, "overlap": int(overlap),
                            "worker_table": target, "workers": workers, "rows": rows,
                            "bytes": nbytes}}

    async def _destination(self, db: str, q) -> tuple:
        """Where a contribution goes: (table spec, chunk or None, overlap, workers, worker
        table, LOAD DATA columns); a partitioned table's chunk is allocated here if new."""
        spec = await self.spec(db)
        try:
            table = spec.table(check_name(q.get("table"), "table"))
        except KeyError:
            raise IngestError(f"table {q.get('table')!r} is not registered in {db}", 404)
        overlap = q.get("overlap", "0") in ("1", "true", "True")
        if table.partitioned:
            if "chunk" not in q:
                raise IngestError(f"{table.name} is partitioned: chunk is required")
            chunk = int(q["chunk"])
            if overlap and table.role != DIRECTOR:
                raise IngestError(f"only director tables have overlap ({table.name} is a {table.role})")
            workers = (await self.allocate(db, [chunk]))[chunk]
            target = table.overlap_table(chunk) if overlap else table.chunk_table(chunk)
            default_cols = table.column_names + list(CHUNK_COLUMNS)
        else:
            chunk, overlap = None, False
            workers = [w.name for w in self.config.workers]
            target = table.name
            default_cols = table.column_names
        columns = q["columns"].split(",") if q.get("columns") else default_cols
        return table, chunk, overlap, workers, target, columns

    async def contribute_bundle(self, q, body: AsyncIterator[bytes]) -> dict:
        """Many chunk files of one transaction in one request: czar/ingest/bundle.py."""
        from czar.ingest.bundle import contribute_bundle
        return await contribute_bundle(self, q, body)

    async def _stream(self, trans_id: int, workers: list[str], header: pb.ContributionHeader,
                      body: AsyncIterator[bytes]) -> tuple[int, int]:
        """Tee `body` to a LoadContribution call on each worker; the rows they loaded."""
        calls = {w: self.stub(w).LoadContribution() for w in workers}
        with self.tracked(trans_id, calls):
            first = pb.ContributionBatch(header=header)
            nbytes = 0
            buf = bytearray()
            async for piece in body:
                buf += piece
                if len(buf) >= self.config.ingest_piece_bytes:
                    msg = pb.ContributionBatch(data=bytes(buf))
                    if first is not None:
                        msg.header.CopyFrom(header)
                        first = None
                    nbytes += len(buf)
                    buf.clear()
                    await self._write_all(calls, msg)
            msg = pb.ContributionBatch(data=bytes(buf))
            if first is not None:
                msg.header.CopyFrom(header)
            nbytes += len(buf)
            await self._write_all(calls, msg)
            replies = await self._replies(calls)
            counts = {r.rows for r in replies.values()}
            if len(counts) != 1:
                raise IngestError(f"replicas loaded different row counts: "
                                  f"{ {w: r.rows for w, r in replies.items()} }")
            return counts.pop(), nbytes

    @contextmanager
    def tracked(self, trans_id: int, calls: dict):
        """The workers' load calls of a contribution, known to the transaction while they
        run (an abort cancels them) and cancelled if the contribution fails."""
        inflight = self.inflight[trans_id]
        inflight.calls.update(calls.values())
        try:
            yield
        except BaseException:
            for call in calls.values():
                call.cancel()
            raise
        finally:
            inflight.calls.difference_update(calls.values())

    @staticmethod
    async def _replies(calls: dict) -> dict:
        """End the writing of every worker's load call and wait for their replies; any that
        failed make one IngestError naming each worker and what it said."""
        for call in calls.values():
            await call.done_writing()
        replies, errors = {}, []
        for w, call in calls.items():
            try:
                replies[w] = await call
            except grpc.aio.AioRpcError as e:
                errors.append(f"{w}: {e.details() or e.code().name}")
        if errors:
            raise IngestError("; ".join(errors))
        return replies

    @staticmethod
    async def _write_all(calls: dict, msg) -> None:
        async def write(w, call):
            try:
                await call.write(msg)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as e:
                # The call ended early: its status says why.
                try:
                    await call
                except grpc.aio.AioRpcError as e2:
                    raise IngestError(f"{w}: {e2.details() or e2.code().name}") from e2
                raise IngestError(f"{w}: the load stream closed early ({e})") from e
        await asyncio.gather(*(write(w, c) for w, c in calls.items()))
