"""One bounded pool of "shadow" connections to the czar's MariaDB, shared by every session
(issue 15, item 7).

Each client session used to hold a connection of its own for its whole life (the checks of
its statements, table-less SELECTs, SHOW, its SET): about 195 idle sessions used up the czar
MariaDB's max_connections and every new client got 1040. Now a session borrows a connection
for one statement and gives it back; at most `size` exist, and a session waits for one when
all are busy.

A connection carries state from its last borrower, which must never reach the next: before a
statement, the borrower's database and session variables (czar/session_state.py) and its time
limit are set on it where they differ (`ShadowConnection.configure`; usually nothing to do). A
connection on which something the czar does not track may have changed (a user's SET of any
variable, user variables, GET_LOCK) is closed instead of given back (`taint`).
"""

from __future__ import annotations

import asyncio
import re
import time

import asyncmy

from czar.session_state import sql_literal

# text after which a connection is not given back: user variables (@x, not @@x), user locks
PING_AFTER_IDLE_S = 1.0
USER_LOCKS = re.compile(r"\bGET_LOCK\s*\(", re.IGNORECASE)   # refused by the frontend
UNTRACKED = re.compile(r"(?<![@\w$])@(?!@)|\b(?:GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS)\s*\(",
                       re.IGNORECASE)


class ShadowConnection:
    """A pooled connection and what is set on it."""

    def __init__(self, conn: asyncmy.Connection):
        self.conn = conn
        self.database: str | None = None
        self.values: dict[str, object] = {}   # session variables set on it (beyond defaults)
        self.limit: float | None = None       # its max_statement_time (None: not set yet)
        self.tainted = False
        self.idle_since = time.monotonic()

    async def configure(self, database: str | None, values: dict, defaults: dict,
                        limit: float) -> None:
        """Make the connection the borrower's: its database, variables and time limit."""
        assignments = [f"{name} = {sql_literal(values.get(name, defaults.get(name)))}"
                       for name in sorted(set(values) | set(self.values))
                       if name != "max_statement_time"   # the limit below is the one that holds
                       and values.get(name, defaults.get(name)) !=
                       self.values.get(name, defaults.get(name))]
        if limit != self.limit:
            assignments.append(f"max_statement_time = {limit:.3f}")
        async with self.conn.cursor() as cur:
            if assignments:
                await cur.execute("SET SESSION " + ", ".join(assignments))
            if database is not None and database != self.database:
                await cur.execute(f"USE `{database.replace('`', '``')}`")
        self.values, self.limit = dict(values), limit
        if database is not None:
            self.database = database

    def taint(self) -> None:
        self.tainted = True


class ShadowPool:
    """At most `size` connections as `user` over `socket`; `acquire(database)` prefers an idle
    connection already in that database. A session without a database never gets one that
    has a database (MariaDB cannot leave a database: `SELECT * FROM t` must stay 1046)."""

    def __init__(self, socket: str, user: str, size: int):
        self.socket, self.user, self.size = socket, user, size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[ShadowConnection] = []
        self._open = 0   # connections open, idle or borrowed: never more than `size`

    async def _connect(self) -> ShadowConnection:
        if self._open >= self.size:  # the idle ones are in other databases: make room
            self._close(self._idle.pop(0))
        self._open += 1
        try:
            return ShadowConnection(await asyncmy.connect(
                unix_socket=self.socket, user=self.user, password="", autocommit=True,
                charset="utf8mb4"))
        except BaseException:
            self._open -= 1
            raise

    def _close(self, sc: ShadowConnection) -> None:
        self._open -= 1
        sc.conn.close()

    async def acquire(self, database: str | None) -> ShadowConnection:
        await self._slots.acquire()
        try:
            while True:
                sc = self._pick(database)
                if sc is None:
                    return await self._connect()
                if await self._alive(sc):
                    return sc
        except BaseException:
            self._slots.release()
            raise

    def _pick(self, database: str | None) -> ShadowConnection | None:
        for i, sc in enumerate(self._idle):
            if sc.database == database:
                return self._idle.pop(i)
        if database is not None and self._idle:
            return self._idle.pop()        # configure() will USE the database
        return None

    async def _alive(self, sc: ShadowConnection) -> bool:
        """A connection idle for a while is pinged first: the czar's MariaDB may have been
        restarted meanwhile (its supervisor does that), leaving the idle ones dead. One whose
        socket was already seen to close is dropped at once, however short its idleness: a
        connection borrowed across the restart and given back unused (a login that ended) was
        handed out dead, and its next statement failed with 2006."""
        if sc.conn._stream_broken:
            self._close(sc)
            return False
        if time.monotonic() - sc.idle_since < PING_AFTER_IDLE_S:
            return True
        try:
            await sc.conn.ping(reconnect=False)
            return True
        except Exception:  # noqa: BLE001 - any failure: a dead connection, open another
            self._close(sc)
            return False

    def release(self, sc: ShadowConnection, reusable: bool = True) -> None:
        """Give `sc` back (closed instead when it cannot be reused)."""
        try:
            if reusable and not sc.tainted and sc.conn.connected and not sc.conn._stream_broken:
                sc.idle_since = time.monotonic()
                self._idle.append(sc)
            else:
                self._close(sc)
        finally:
            self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._close(self._idle.pop())
