"""The HTTP query API on the czar's HTTP port, with the original Qserv's routes, envelope
(`success`, `error`, `error_ext`, `warning`) and version negotiation, over the same registry
as the MySQL frontend (czar/async_queries.py):

    GET    /meta/version                      (czar/http.py) version 40, kind, name, id
    POST   /query                  {query, database}   -> {schema, rows} (sync)
    POST   /query-async            {query, database}   -> {queryId}
    GET    /query-async/status/{id}                     -> {status: {queryId, status, ...}}
    GET    /query-async/result/{id}                     -> {schema, rows}
    DELETE /query-async/result/{id}                     -> the result deleted
    DELETE /query-async/{id}                            -> the query cancelled

Beyond the original: `GET /query-async` lists one's queries (`state=`, `limit=`, `before=`
for paging); status long-polls (`?wait=S`: answers once the query has finished, or after S
seconds); submit takes `request_id` (the same id again answers with the first query instead
of running a second), `wait_s` (the result comes in the answer when the query finishes
within it) and `max_rows` (the stored result stops there; status says `truncated`);
results come in pages (`offset`/`limit`, or `page`/`page_rows`) and formats (`?format=` or
Accept: json (typed values, real nulls), jsonl, csv, arrow, parquet; czar/result_formats.py),
every one ending with an explicit end or error marker; the Parquet download is resumable
with Range.

Values in JSON results are typed (numbers are numbers) where the original sends every value
as a string: a script doing float(value) works with both.

Who: HTTP Basic auth with the MySQL frontend's users (`user`/`password`, `users` of the
cluster config); a user sees only their own queries, the admin user everyone's. Errors
answer HTTP 200 with success 0, as the original does (401 for a missing or wrong login).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time

import pyarrow as pa
from aiohttp import web

from czar import result_formats as rf
from czar.async_queries import AsyncQueries, result_table
from czar.registry import COMPLETED, RUNNING, STATES
from qserv.errors import QservError

VERSION, MIN_VERSION = 40, 30
QUERIES = web.AppKey("queries", AsyncQueries)
USERS = web.AppKey("users", dict)
INLINE_ROWS = 100_000   # wait_s answers with the rows when the result is at most this many


def answer(payload: dict | None = None, **more) -> web.Response:
    return web.json_response({"success": 1, "error": "", "error_ext": {}, "warning": "",
                              **(payload or {}), **more})


def refuse(message: str, status: int = 200, **ext) -> web.Response:
    return web.json_response({"success": 0, "error": message, "error_ext": ext, "warning": ""},
                             status=status)


class Refused(Exception):
    def __init__(self, message: str, status: int = 200, **ext):
        super().__init__(message)
        self.status, self.ext = status, ext


def password_ok(stored: str, given: str) -> bool:
    """`stored` as in the cluster config: a password, or MariaDB's "*HEX" hash of one."""
    if stored.startswith("*") and len(stored) == 41:
        digest = hashlib.sha1(hashlib.sha1(given.encode()).digest()).hexdigest().upper()
        return hmac.compare_digest(digest, stored[1:].upper())
    return hmac.compare_digest(stored.encode(), given.encode())


def user_of(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        stored = request.app[USERS].get(user)
        if stored is not None and password_ok(stored, password):
            return user
    raise Refused("a valid login is required: HTTP Basic auth with a user of the MySQL "
                  "frontend", 401)


def check_version(given) -> None:
    if given is None or given == "":
        return
    try:
        v = int(given)
    except (TypeError, ValueError):
        raise Refused(f"the version must be a number, not {given!r}") from None
    if not MIN_VERSION <= v <= VERSION:
        raise Refused(f"The requested version {v} of the API is not in the range supported by "
                      "the service.", max_version=VERSION, min_version=MIN_VERSION)


async def body_of(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as e:
        raise Refused(f"the body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    return body


def status_of(row: dict) -> dict:
    """The original's status fields, and ours after them."""
    schema = row.get("result_schema") or {}
    return {"queryId": row["id"], "status": row["state"], "totalChunks": row["chunks_total"],
            "completedChunks": row["chunks_done"], "collectedBytes": row["bytes_collected"],
            "collectedRows": row["rows_collected"], "finalRows": row["result_rows"] or 0,
            "queryBeginEpoch": int(row["submitted"]), "lastUpdateEpoch": int(row["updated"] or 0),
            "type": row["type"], "query": row["query"], "database": row["db"],
            "error": row["error"] or "", "errorCode": row["error_code"] or 0,
            "abortReason": row["abort_reason"] or "", "requestId": row["request_id"] or "",
            "expiresEpoch": int(row["expires_at"]) if row["expires_at"] else 0,
            "resultBytes": row["result_bytes"] or 0, "attempts": row["attempts"],
            "truncated": bool(isinstance(schema, dict) and schema.get("truncated"))}


def qid_of(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise Refused(f"the query id must be a number, not {request.match_info['id']!r}") from None


def add_query_routes(app: web.Application, queries: AsyncQueries, users: dict[str, str]) -> None:
    app[QUERIES] = queries
    app[USERS] = users
    routes = web.RouteTableDef()
    _submit_routes(routes, queries)
    _status_routes(routes, queries)
    _result_routes(routes, queries)
    app.add_routes(routes)


def guarded(handler):
    """The handler with the request's user; its refusals become the API's error answers."""
    async def run(request: web.Request):
        try:
            user = user_of(request)
            return await handler(request, user)
        except Refused as e:
            return refuse(str(e), e.status, **e.ext)
        except QservError as e:
            return refuse(e.message, code=e.code)
    return run


def _submit_routes(routes: web.RouteTableDef, q: AsyncQueries) -> None:
    """POST /query (sync) and POST /query-async (submit)."""
    @routes.post("/query")
    @guarded
    async def sync_query(request, user):
        body = await body_of(request)
        check_version(body.get("version"))
        row = await q.submit(user, str(body["query"]), body.get("database") or None,
                             max_rows=_int(body.get("max_rows")), qtype="SYNC")
        row = await _wait(q, user, row["id"], None)
        try:
            row = await q.completed(user, row["id"])
            return answer(await _inline(q, row, body.get("binary_encoding", "hex")))
        finally:
            await q.delete_result(user, row["id"])

    @routes.post("/query-async")
    @guarded
    async def submit(request, user):
        body = await body_of(request)
        check_version(body.get("version"))
        if not body.get("query"):
            raise Refused("the body needs the query text: {\"query\": ..., \"database\": ...}")
        row = await q.submit(user, str(body["query"]), body.get("database") or None,
                             request_id=str(body["request_id"]) if body.get("request_id") else None,
                             max_rows=_int(body.get("max_rows")))
        wait_s = float(body.get("wait_s") or 0)
        out = {"queryId": row["id"]}
        if wait_s > 0:
            row = await _wait(q, user, row["id"], wait_s)
            out["status"] = status_of(row)
            if row["state"] == COMPLETED and (row["result_rows"] or 0) <= INLINE_ROWS:
                out.update(await _inline(q, row, body.get("binary_encoding", "hex")))
        return answer(out)


def _status_routes(routes: web.RouteTableDef, q: AsyncQueries) -> None:
    """GET /query-async (one's queries) and GET /query-async/status/{id} (long-poll)."""
    @routes.get("/query-async")
    @guarded
    async def listing(request, user):
        check_version(request.query.get("version"))
        states = [s.strip().upper() for s in request.query.get("state", "").split(",") if s.strip()]
        for s in states:
            if s not in STATES:
                raise Refused(f"unknown state {s!r}; one of {', '.join(STATES)}")
        limit = max(1, min(int(request.query.get("limit", 100)), 10_000))
        rows = await q.registry.list(user=None if q.is_admin(user) else user, states=states or None,
                                     limit=limit, before=_int(request.query.get("before")))
        more = len(rows) == limit
        return answer({"queries": [status_of(r) for r in rows],
                       "next_before": rows[-1]["id"] if more and rows else None})

    @routes.get("/query-async/status/{id}")
    @guarded
    async def status(request, user):
        check_version(request.query.get("version"))
        wait = float(request.query.get("wait", 0) or 0)
        row = await _wait(q, user, qid_of(request), min(wait, 600.0)) if wait > 0 \
            else await q.visible(user, qid_of(request))
        return answer({"status": status_of(row)})


def _result_routes(routes: web.RouteTableDef, q: AsyncQueries) -> None:
    """GET and DELETE /query-async/result/{id} (formats, pages, Range); DELETE
    /query-async/{id} (cancel)."""
    @routes.get("/query-async/result/{id}")
    @guarded
    async def result(request, user):
        check_version(request.query.get("version"))
        row = await q.completed(user, qid_of(request))
        fmt = _format(request)
        offset, limit = _window(request)
        path = await ensure_parquet(q, row)
        await q.mark_returned(row["id"])
        if fmt == "parquet":
            if offset or limit is not None:
                raise Refused("a Parquet download is the whole file (resume it with Range); "
                              "use another format for pages")
            return web.FileResponse(path, headers={"Content-Type": rf.FORMATS["parquet"]})
        return await _stream(request, fmt, row, path, offset, limit,
                             request.query.get("binary_encoding", "hex"))

    @routes.delete("/query-async/result/{id}")
    @guarded
    async def delete_result(request, user):
        check_version(request.query.get("version"))
        row = await q.delete_result(user, qid_of(request))
        return answer({"status": status_of(row)})

    @routes.delete("/query-async/{id}")
    @guarded
    async def cancel(request, user):
        check_version(request.query.get("version"))
        row = await q.cancel(user, qid_of(request))
        return answer({"status": status_of(row)})


def _int(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Refused(f"expected a number, not {value!r}") from None


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "").lower()
    if not fmt:
        accept = request.headers.get("Accept", "")
        fmt = next((name for name, mime in rf.FORMATS.items() if mime in accept), "json")
    if fmt not in rf.FORMATS:
        raise Refused(f"unknown format {fmt!r}; one of {', '.join(rf.FORMATS)}")
    return fmt


def _window(request: web.Request) -> tuple[int, int | None]:
    query = request.query
    if "page" in query:
        page, size = _int(query.get("page")) or 0, _int(query.get("page_rows")) or 10_000
        return page * size, size
    return _int(query.get("offset")) or 0, _int(query.get("limit"))


async def _wait(q: AsyncQueries, user: str, qid: int, wait_s: float | None) -> dict:
    """The query's row once it has finished, or when `wait_s` (None: no end) has passed."""
    end = None if wait_s is None else time.monotonic() + wait_s
    while True:
        row = await q.visible(user, qid)
        if row["state"] not in RUNNING:
            return row
        left = 1.0 if end is None else min(1.0, end - time.monotonic())
        if left <= 0:
            return row
        async with q.registry.changed:
            try:
                await asyncio.wait_for(q.registry.changed.wait(), left)
            except TimeoutError:
                pass


async def ensure_parquet(q: AsyncQueries, row: dict):
    """The result's Parquet copy, made once (its first download) from the result table."""
    qid = row["id"]
    path = q.parquet_path(qid)
    if path.exists():
        return path
    lock = q._parquet_locks.setdefault(qid, asyncio.Lock())
    async with lock:
        if path.exists():
            return path
        columns = row["result_schema"]["columns"]
        table = result_table(qid)
        async with q.engine.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                              "TABLE_SCHEMA = 'qservResult' AND TABLE_NAME = %s "
                              "ORDER BY ORDINAL_POSITION", (f"result_{qid}",))
            names = [r[0] for r in await cur.fetchall()]
            text = q.spool / f"async_{qid}-export.tsv"
            text.unlink(missing_ok=True)
            await cur.execute(rf.outfile_select(columns, names, table, text))
        try:
            await asyncio.to_thread(rf.text_to_parquet, text, columns, path)
        finally:
            text.unlink(missing_ok=True)
    q._parquet_locks.pop(qid, None)
    return path


async def _inline(q: AsyncQueries, row: dict, binary_encoding: str) -> dict:
    path = await ensure_parquet(q, row)
    columns = row["result_schema"]["columns"]
    table = await asyncio.to_thread(lambda: pa.Table.from_batches(list(rf.batches(path)),
                                                                  rf.arrow_schema(columns)))
    rows = []
    for batch in table.to_batches():
        rows += rf.json_rows(batch, binary_encoding)
    schema = row.get("result_schema") or {}
    return {"schema": rf.schema_json(columns), "rows": rows,
            "truncated": bool(schema.get("truncated"))}


async def _stream(request, fmt: str, row: dict, path, offset: int, limit: int | None,
                  binary_encoding: str) -> web.StreamResponse:
    """A result in pages of batches, ending with the format's end or error marker."""
    columns = row["result_schema"]["columns"]
    schema = rf.arrow_schema(columns)
    response = web.StreamResponse(headers={"Content-Type": rf.FORMATS[fmt]})
    await response.prepare(request)
    source = rf.batches(path, offset, limit)
    arrow = rf.ArrowStream(schema) if fmt == "arrow" else None
    sent, first = 0, True
    if fmt == "json":
        await response.write(b'{"success":1,"error":"","error_ext":{},"warning":"","schema":'
                             + rf.jsonl_line(rf.schema_json(columns)).strip() + b',"rows":[')
    elif fmt == "jsonl":
        await response.write(rf.jsonl_line({"schema": rf.schema_json(columns)}))
    elif fmt == "csv":
        await response.write(rf.csv_header(schema))
    try:
        while (batch := await asyncio.to_thread(next, source, None)) is not None:
            if fmt == "json":
                rows = rf.json_rows(batch, binary_encoding)
                if rows:
                    text = ",".join(rf.jsonl_line(r).decode().strip() for r in rows)
                    await response.write((("" if first else ",") + text).encode())
                    first = False
            elif fmt == "jsonl":
                await response.write(b"".join(rf.jsonl_line(r)
                                              for r in rf.json_rows(batch, binary_encoding)))
            elif fmt == "csv":
                await response.write(rf.csv_bytes(batch, False))
            else:
                await response.write(arrow.write(batch))
            sent += batch.num_rows
    except (ConnectionResetError, asyncio.CancelledError):
        raise   # the client went away: nothing more to send
    except Exception as e:  # noqa: BLE001 - told to the client in the format's error marker
        message = f"{type(e).__name__}: {e}"
        if fmt == "json":
            await response.write(b'],"end":' + rf.jsonl_line({"complete": False, "rows": sent,
                                                                "error": message}).strip() + b"}")
        elif fmt == "jsonl":
            await response.write(rf.jsonl_line({"error": message, "rows": sent}))
        elif fmt == "csv":
            await response.write(f"#ERROR,{message}\n".encode())
        # arrow: no end-of-stream marker after an error; the reader fails
        await response.write_eof()
        return response
    end = {"complete": True, "rows": sent, "offset": offset,
           "total_rows": row["result_rows"] or 0}
    if fmt == "json":
        await response.write(b'],"end":' + rf.jsonl_line(end).strip() + b"}")
    elif fmt == "jsonl":
        await response.write(rf.jsonl_line({"end": end}))
    elif fmt == "csv":
        await response.write(f"#END,{sent}\n".encode())
    else:
        await response.write(arrow.end())
    await response.write_eof()
    return response


# ---- OpenAPI 3.1 (merged into the czar's /openapi.json) ------------------------------------
def _param(name, where="query", typ="string", desc=""):
    return {"name": name, "in": where, "required": where == "path", "description": desc,
            "schema": {"type": typ}}


def _operation(summary, params=(), body=None):
    op = {"summary": summary, "security": [{"basic": []}], "parameters": list(params),
          "responses": {"200": {"description": "success = 1, or success = 0 and error says why",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Answer"}}}},
                        "401": {"description": "no valid login"}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_ID = _param("id", "path", "integer", "query id (jobId)")
_VERSION = _param("version", typ="integer", desc=f"API version expected ({MIN_VERSION}..{VERSION})")
_SUBMIT = {"type": "object", "required": ["query"], "properties": {
    "query": {"type": "string"}, "database": {"type": "string"},
    "version": {"type": "integer"}, "request_id": {"type": "string",
                                                   "description": "idempotent resubmission"},
    "wait_s": {"type": "number", "description": "answer with the rows if done within"},
    "max_rows": {"type": "integer", "description": "keep at most this many rows"},
    "binary_encoding": {"type": "string", "enum": ["hex", "b64", "array"]}}}

OPENAPI_PATHS = {
    "/query": {"post": _operation("Run a query and answer with its rows ({schema, rows})",
                                  body=_SUBMIT)},
    "/query-async": {
        "post": _operation("Submit a query: {queryId} at once", body=_SUBMIT),
        "get": _operation("One's queries, newest first", [
            _param("state", desc="comma-separated states"), _param("limit", typ="integer"),
            _param("before", typ="integer", desc="ids below this one (paging)"), _VERSION])},
    "/query-async/status/{id}": {"get": _operation(
        "Status: queryId, status, totalChunks, completedChunks, collectedBytes, collectedRows, "
        "finalRows, queryBeginEpoch, lastUpdateEpoch...",
        [_ID, _param("wait", typ="number", desc="long poll: seconds to wait for the end"), _VERSION])},
    "/query-async/result/{id}": {
        "get": _operation("The result, streamed in a format, ending with an end or error marker",
                          [_ID, _param("format", desc="json|jsonl|csv|arrow|parquet (or Accept)"),
                           _param("offset", typ="integer"), _param("limit", typ="integer"),
                           _param("page", typ="integer"), _param("page_rows", typ="integer"),
                           _param("binary_encoding", desc="hex|b64|array"), _VERSION]),
        "delete": _operation("Delete the result (the query reads EXPIRED)", [_ID, _VERSION])},
    "/query-async/{id}": {"delete": _operation("Cancel the query", [_ID, _VERSION])},
}
