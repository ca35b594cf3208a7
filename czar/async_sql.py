"""The MySQL side of the query registry, with the original Qserv's syntax (scripts written for
it work unchanged):

    SUBMIT <select>                          -> one row: jobId, resultLocation
    SELECT * FROM qserv_result(<id>)         -> the result of a COMPLETED query
    CALL qserv_result_delete(<id>)           -> its result deleted (the query reads EXPIRED)
    CANCEL <id>, KILL [QUERY|CONNECTION] <id> -> a running query stopped (an id that is not
                                                one of the user's running queries is left to
                                                mysql-mimic's KILL of a connection)
    SHOW [FULL] PROCESSLIST                  -> running queries
    SELECT ... FROM information_schema.processlist / information_schema.queries

The two information_schema tables are not MariaDB's: the user's statement runs in an
in-memory SQLite database holding only that user's rows (the admin's: everyone's), so any
WHERE / ORDER BY / column list works and nothing else can be read. A user sees only their own
queries (czar/async_queries.py `visible`).
"""

from __future__ import annotations

import re
import sqlite3
import time

import asyncmy
import sqlglot
from mysql_mimic import ResultColumn, ResultSet
from mysql_mimic.charset import CharacterSet
from mysql_mimic.errors import MysqlError
from mysql_mimic.types import ColumnType

from czar.async_queries import ER_QSERV_CANCEL, result_table
from czar.mimic_batches import BatchedRows
from czar.registry import RUNNING
from qserv.errors import ER_NOT_SUPPORTED_YET, QservError

NOT_MINE = object()   # the statement is not one of these: route it as usual
FETCH_ROWS = 10_000
CZAR_NAME, CZAR_ID = "czar", 1

SUBMIT = re.compile(r"^\s*SUBMIT\s+(.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
RESULT = re.compile(r"^\s*SELECT\s+\*\s+FROM\s+qserv_result\s*\(\s*(\d+)\s*\)\s*;?\s*$", re.IGNORECASE)
DELETE = re.compile(r"^\s*CALL\s+qserv_result_delete\s*\(\s*(\d+)\s*\)\s*;?\s*$", re.IGNORECASE)
CANCEL = re.compile(r"^\s*CANCEL\s+(\d+)\s*;?\s*$", re.IGNORECASE)
KILL = re.compile(r"^\s*KILL\s+(?:QUERY\s+|CONNECTION\s+)?(\d+)\s*;?\s*$", re.IGNORECASE)
PROCESSLIST = re.compile(r"^\s*SHOW\s+(FULL\s+)?PROCESSLIST\s*;?\s*$", re.IGNORECASE)
INFO_TABLE = re.compile(r"`?information_schema`?\s*\.\s*`?(processlist|queries)`?", re.IGNORECASE)
BARE_TABLE = re.compile(r"\b(processlist|queries)\b", re.IGNORECASE)
WORTH_A_LOOK = re.compile(r"^\s*(SUBMIT|CANCEL|CALL|KILL|SHOW)\b|qserv_result|processlist|queries",
                          re.IGNORECASE)

PROCESSLIST_COLUMNS = ["ID", "TYPE", "CZAR", "CZAR_ID", "SUBMITTED", "UPDATED", "CHUNKS",
                       "CHUNKS_COMP", "QUERY"]
QUERIES_COLUMNS = ["ID", "TYPE", "CZAR", "CZAR_ID", "STATUS", "SUBMITTED", "COMPLETED",
                   "RETURNED", "CHUNKS", "BYTES", "ROWS_COLLECTED", "ROWS", "DBS", "QUERY", "ERROR"]
SHOW_QUERY_CHARS = 32   # SHOW PROCESSLIST cuts the text, SHOW FULL PROCESSLIST does not


def _when(epoch) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _processlist_row(r) -> list:
    return [r["id"], r["type"], CZAR_NAME, CZAR_ID, _when(r["submitted"]), _when(r["updated"]),
            r["chunks_total"], r["chunks_done"], r["query"]]


def _queries_row(r) -> list:
    return [r["id"], r["type"], CZAR_NAME, CZAR_ID, r["state"], _when(r["submitted"]),
            _when(r["completed"]), _when(r["returned"]), r["chunks_total"], r["bytes_collected"],
            r["rows_collected"], r["result_rows"], r["db"], r["query"], r["error"] or ""]


def _columns(names, rows) -> list[ResultColumn]:
    cols = []
    for i, name in enumerate(names):
        kind = next((type(r[i]) for r in rows if r[i] is not None), str)
        ctype = {int: ColumnType.LONGLONG, float: ColumnType.DOUBLE}.get(kind, ColumnType.VAR_STRING)
        cols.append(ResultColumn(name=name, type=ctype, character_set=CharacterSet.utf8mb4))
    return cols


def _error(e: QservError) -> MysqlError:
    return MysqlError(e.message, code=e.code)


def _refuse_session_settings(session) -> None:
    """An async query runs later, on a connection of its own with the server's settings: a
    session whose SET values change answers (sql_mode, time_zone, ...) would get a different
    answer from SUBMIT than from the same SELECT, so SUBMIT refuses it (never a silent change)."""
    state = getattr(session, "state", None)
    changed = state.carried_changes if state is not None else []
    if changed:
        raise MysqlError(
            f"SUBMIT runs the query with the server's settings, and this session has set "
            f"{', '.join(changed)}: run the SELECT without SUBMIT, or SET them to DEFAULT first",
            code=ER_NOT_SUPPORTED_YET)


async def answer(session, text: str):
    """The answer to `text` when it is one of the statements above, else NOT_MINE."""
    queries = getattr(session.engine, "queries", None)
    if queries is None or not WORTH_A_LOOK.search(text):
        return NOT_MINE
    user = session.username or ""
    try:
        if m := SUBMIT.match(text):
            _refuse_session_settings(session)
            row = await queries.submit(user, m.group(1), session.database or None)
            return [[row["id"], row["result_location"]]], [
                ResultColumn(name="jobId", type=ColumnType.LONGLONG),
                ResultColumn(name="resultLocation", type=ColumnType.VAR_STRING)]
        if m := RESULT.match(text):
            return await _result(session, queries, user, int(m.group(1)))
        if m := DELETE.match(text):
            await queries.delete_result(user, int(m.group(1)))
            return None
        if m := CANCEL.match(text):
            qid = int(m.group(1))
            try:
                await queries.cancel(user, qid)
            except QservError:
                raise MysqlError(f"KILL/CANCEL failed: Unknown or finished query ID: CANCEL {qid}",
                                 code=ER_QSERV_CANCEL) from None
            return [[f"Trying to kill query: CANCEL {qid}"]], [
                ResultColumn(name="command", type=ColumnType.VAR_STRING)]
        if m := KILL.match(text):
            qid = int(m.group(1))
            try:
                await queries.cancel(user, qid)
            except QservError:
                return NOT_MINE   # not a running query of this user: a connection id
            return None
        if m := PROCESSLIST.match(text):
            rows = [_processlist_row(r) for r in await _rows(queries, user, RUNNING)]
            if not m.group(1):
                for r in rows:
                    r[-1] = r[-1][:SHOW_QUERY_CHARS]
            names = ["ID", "COMMAND"] + PROCESSLIST_COLUMNS[2:]
            return rows, _columns(names, rows)
        if INFO_TABLE.search(text) or ((session.database or "").lower() == "information_schema"
                                       and BARE_TABLE.search(text)
                                       and text.lstrip()[:6].upper() == "SELECT"):
            return await _information_schema(queries, user, text)
    except QservError as e:
        raise _error(e) from None
    return NOT_MINE


async def _rows(queries, user: str, states=None, limit: int = 10_000):
    return await queries.registry.list(user=None if queries.is_admin(user) else user,
                                       states=list(states) if states else None, limit=limit)


async def _result(session, queries, user: str, qid: int):
    row = await queries.completed(user, qid)
    columns = row["result_schema"]["columns"]
    engine = session.engine
    conn = await engine.raw_pool.acquire()
    cur = conn.cursor(asyncmy.cursors.SSCursor)
    try:
        await cur.execute(f"SELECT * FROM {result_table(qid)}")
    except BaseException:
        await cur.close()
        engine.raw_pool.release(conn)
        raise
    await queries.mark_returned(qid)

    async def batches():
        try:
            while batch := await cur.fetchmany(FETCH_ROWS):
                yield batch
        finally:
            await cur.close()
            engine.raw_pool.release(conn)

    from czar.frontend import result_columns  # the frontend imports this module
    return ResultSet(rows=BatchedRows(batches()),
                     columns=result_columns([(c["name"], c["type"]) for c in columns],
                                            [c["binary"] for c in columns]))


async def _information_schema(queries, user: str, text: str):
    """The statement over the user's rows of processlist and queries, run by SQLite."""
    rows = await _rows(queries, user)
    db = sqlite3.connect(":memory:")
    try:
        for name, columns, make, keep in (
                ("processlist", PROCESSLIST_COLUMNS, _processlist_row, lambda r: r["state"] in RUNNING),
                ("queries", QUERIES_COLUMNS, _queries_row, lambda r: True)):
            db.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
            db.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(columns))})",
                           [make(r) for r in rows if keep(r)])
        sql = INFO_TABLE.sub(lambda m: m.group(1), text)
        try:
            sql = sqlglot.transpile(sql, read="mysql", write="sqlite")[0]
            cur = db.execute(sql)
        except (sqlglot.errors.SqlglotError, sqlite3.Error) as e:
            raise MysqlError(f"Qserv answers information_schema.processlist and "
                             f"information_schema.queries with simple SELECTs only: {e}",
                             code=1235) from None
        names = [d[0] for d in cur.description or []]
        found = [list(r) for r in cur.fetchall()]
    finally:
        db.close()
    return found, _columns(names, found)
