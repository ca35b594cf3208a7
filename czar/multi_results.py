"""Several statements in one COM_QUERY, answered as MariaDB does with CLIENT_MULTI_STATEMENTS:
one result (a result set, or OK) per statement, in turn, each but the last flagged
SERVER_MORE_RESULTS_EXISTS; the first statement that fails ends the sequence with its error.

mysql-mimic writes exactly one result per COM_QUERY, so a session answers several statements
with a `MultiResults` (an async iterator of per-statement results), which the patched
`Connection.handle_query` writes one after the other. A statement runs only once the result of
the one before it is written (its rows stream from the workers meanwhile), as in MariaDB.
The server also advertises CLIENT_MULTI_STATEMENTS and CLIENT_MULTI_RESULTS (`CAPABILITIES`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from mysql_mimic import packets
from mysql_mimic.errors import MysqlError
from mysql_mimic.connection import Connection
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.results import ensure_result_set
from mysql_mimic.types import Capabilities, ServerStatus

from czar import deadline

CAPABILITIES = (DEFAULT_SERVER_CAPABILITIES | Capabilities.CLIENT_MULTI_STATEMENTS
                | Capabilities.CLIENT_MULTI_RESULTS)


class MultiResults:
    """The results of several statements: `(result, more)` pairs, produced one at a time."""

    def __init__(self, results: AsyncIterator[tuple[object, bool]]):
        self.results = results


def multi_statements(connection: Connection) -> bool:
    """Did the client enable CLIENT_MULTI_STATEMENTS at login?"""
    return Capabilities.CLIENT_MULTI_STATEMENTS in connection.capabilities


async def _write(self: Connection, result) -> None:
    result_set = await ensure_result_set(result)
    if not result_set:
        await self.stream.write(self.ok())
    else:
        await self.write_text_resultset(result_set)


@contextlib.asynccontextmanager
async def _timed(self: Connection):
    """One statement, its result written included, within the session's time limit
    (czar/deadline.py): the servers it uses stop it first; this timer, a little later, stops
    whatever is left (a client not reading its rows, a stuck call)."""
    limit = self.session.time_limit() if hasattr(self.session, "time_limit") else None
    timer = asyncio.timeout(None if limit is None else limit + deadline.GRACE_S)
    with deadline.started(limit):
        try:
            async with timer:
                yield
        except (TimeoutError, asyncio.CancelledError) as error:
            # The timer's cancellation can surface as CancelledError instead of TimeoutError
            # when it meets a TaskGroup's own cancelling of its parent (a query whose jobs
            # failed with 1969 was cancelling them at that moment; Python 3.11): the
            # connection then died (the client read 2013) instead of answering 1969.
            if isinstance(error, asyncio.CancelledError):
                if not timer.expired():
                    raise
                task = asyncio.current_task()
                while task is not None and task.cancelling():
                    task.uncancel()
            if hasattr(self.session, "interrupted"):
                self.session.interrupted()
            e = deadline.interrupted()
            raise MysqlError(e.message, code=e.code) from None


async def _handle_query(self: Connection, data: bytes) -> None:
    com_query = packets.parse_com_query(capabilities=self.capabilities,
                                        client_charset=self.client_charset, data=data)
    async with _timed(self):
        result = await self.session.handle_query(com_query.sql, com_query.query_attrs)
        if not isinstance(result, MultiResults):
            return await _write(self, result)
    results = result.results
    while True:
        async with _timed(self):  # each statement has its own time (a SET may change it)
            try:
                one, more = await anext(results)
            except StopAsyncIteration:
                return
            if more:  # every packet of this result says another one follows, as MariaDB's do
                self.status_flags |= ServerStatus.SERVER_MORE_RESULTS_EXISTS
            try:
                await _write(self, one)
            finally:
                self.status_flags &= ~ServerStatus.SERVER_MORE_RESULTS_EXISTS


def install() -> None:
    """Route COM_QUERY through the multi-result writer (idempotent)."""
    Connection.handle_query = _handle_query
