"""The czar's HTTP API (aiohttp): the ingest workflow, in the original Qserv's REST shapes.

Every answer is JSON with `success` (1 or 0) and `error` ("" when it worked); failures also
carry an HTTP status (400 bad request, 401 no token, 404 unknown, 409 conflicting state,
413 too large, 503 a worker unreachable). Requests that change anything need the admin token
of the cluster config: `Authorization: Bearer TOKEN`, or `auth_key` in the query string or
the JSON body (the original's way). `GET /openapi.json` describes every route.

The token is checked before any body is read (issue 15, item 8: 300 MB of JSON without a token
took the czar to 1 GB): a token in the header or the query decides at once; `auth_key` in the
body is looked for only in a JSON body of at most AUTH_BODY_BYTES. JSON bodies are capped at
`http_max_json_bytes` (413); file contributions are never held whole: they stream.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

import grpc
from aiohttp import web

from czar.http_query import OPENAPI_PATHS as QUERY_OPENAPI_PATHS
from czar.http_query import VERSION as QUERY_API_VERSION, add_query_routes
from czar.ingest import IngestController, IngestError
from czar.login import users_of

log = logging.getLogger("czar.http")

CONTROLLER = web.AppKey("controller", IngestController)
TOKEN = web.AppKey("token", str)
READ_PIECE = 1 << 20
AUTH_BODY_BYTES = 64 << 10   # largest body searched for an auth_key before the token is known
JSON_KEY = "qserv_json"      # the request's JSON body, once read for its auth_key


def ok(payload: dict, status: int = 200) -> web.Response:
    return web.json_response({"success": 1, "error": "", **payload}, status=status)


def fail(message: str, status: int, **ext) -> web.Response:
    return web.json_response({"success": 0, "error": message, "error_ext": ext}, status=status)


async def json_body(request: web.Request) -> dict:
    """The JSON object of the body (at most the app's client_max_size bytes, else 413)."""
    if JSON_KEY in request:
        return request[JSON_KEY]
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deep
        raise IngestError(f"the body is not valid JSON: {e}")
    if not isinstance(body, dict):
        raise IngestError("the body must be a JSON object")
    return body


async def small_json_body(request: web.Request) -> dict:
    """The JSON body when it is small (AUTH_BODY_BYTES): read without knowing the caller."""
    length = request.content_length
    if not request.can_read_body or (length is not None and length > AUTH_BODY_BYTES):
        return {}
    data = await request.content.read(AUTH_BODY_BYTES + 1)
    if len(data) > AUTH_BODY_BYTES or not request.content.at_eof():
        return {}
    try:
        body = json.loads(data) if data else {}
    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deep
        raise IngestError(f"the body is not valid JSON: {e}")
    if not isinstance(body, dict):
        raise IngestError("the body must be a JSON object")
    request[JSON_KEY] = body
    return body


def given_token(request: web.Request) -> str:
    return (request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            or request.query.get("auth_key", ""))


def is_query_route(request: web.Request) -> bool:
    """The query API (czar/http_query.py) checks its own users (HTTP Basic), not the token."""
    return request.path == "/query" or request.path.startswith("/query-async")


@web.middleware
async def errors_and_auth(request: web.Request, handler):
    started = time.monotonic()
    try:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not is_query_route(request):
            token = request.app[TOKEN]
            if token:
                given = given_token(request)
                if not given and request.content_type == "application/json":
                    given = str((await small_json_body(request)).get("auth_key", ""))
                if not hmac.compare_digest(given.encode(), token.encode()):
                    return fail("a valid admin token is required (Authorization: Bearer TOKEN, "
                                "or auth_key in the query or in a small JSON body)", 401)
        return await handler(request)
    except IngestError as e:
        return fail(str(e), e.status, **e.ext)
    except web.HTTPException as e:
        if e.status >= 400:
            return fail(e.reason, e.status)
        raise
    except (ValueError, KeyError, TypeError, OverflowError) as e:  # a field missing or mistyped
        return fail(f"bad request: {type(e).__name__}: {e}", 400)
    except grpc.aio.AioRpcError as e:   # a worker down or failing: say which call, retry later
        return fail(f"a worker could not be reached or failed: {e.code().name}: {e.details()}", 503)
    except Exception as e:   # a bug or an unreachable component: say so, keep serving
        log.exception("%s %s failed", request.method, request.path)
        return fail(f"internal error: {type(e).__name__}: {e}", 500)
    finally:
        log.debug("%s %s %.3f s", request.method, request.path_qs, time.monotonic() - started)


async def _body_pieces(request: web.Request):
    async for piece in request.content.iter_chunked(READ_PIECE):
        yield piece


def build_app(controller: IngestController, token: str,
              max_json_bytes: int = 32 << 20, queries=None, membership=None) -> web.Application:
    """`max_json_bytes`: the largest JSON body (file contributions stream, unbounded)."""
    app = web.Application(middlewares=[errors_and_auth], client_max_size=max_json_bytes)
    app[CONTROLLER] = controller
    app[TOKEN] = token
    routes = web.RouteTableDef()
    _meta_routes(routes, controller, queries)
    _database_routes(routes, controller)
    _transaction_routes(routes, controller)
    _data_routes(routes, controller)
    app.add_routes(routes)
    if queries is not None:
        add_query_routes(app, queries, users_of(controller.config))
    if membership is not None:   # workers joining a running czar (czar/membership.py)
        _worker_routes(app, membership)
    return app


def _meta_routes(routes: web.RouteTableDef, c: IngestController, queries) -> None:
    """/openapi.json, /meta/version, /meta/placement."""
    @routes.get("/openapi.json")
    async def openapi(request):
        if queries is None:
            return web.json_response(OPENAPI)
        document = {**OPENAPI, "paths": {**OPENAPI["paths"], **QUERY_OPENAPI_PATHS}}
        document["components"] = {**OPENAPI["components"], "securitySchemes": {
            **OPENAPI["components"]["securitySchemes"],
            "basic": {"type": "http", "scheme": "basic",
                      "description": "a user of the MySQL frontend (query routes)"}}}
        return web.json_response(document)

    @routes.get("/meta/version")
    async def version(request):
        # the original's fields (kind, name, id, instance_id, version) and ours
        return ok({"kind": "qserv-czar-query-frontend", "name": "http", "id": 1,
                   "instance_id": c.config.dir, "version": QUERY_API_VERSION,
                   "service": "qserv-czar", "workers": [w.name for w in c.config.workers]})

    @routes.get("/meta/placement")
    async def placement(request):
        # which workers hold each chunk: what the Kubernetes operator reads before letting
        # workers go (deploy/operator: a scale-down never removes a chunk's last copy)
        out: dict[str, dict[str, list[str]]] = {}
        for db, chunk, worker in await c.sql(
                "SELECT db, chunk_id, worker FROM qservMeta.chunks ORDER BY db, chunk_id, worker"):
            out.setdefault(db, {}).setdefault(str(chunk), []).append(worker)
        return ok({"placement": out})


def _database_routes(routes: web.RouteTableDef, c: IngestController) -> None:
    """/ingest/database...: register, status, publish, delete, validate, stats, steps;
    /ingest/table."""
    @routes.get("/ingest/database")
    async def databases(request):
        return ok(await c.list_databases())

    @routes.post("/ingest/database")
    async def register_database(request):
        return ok(await c.register_database(await json_body(request)))

    @routes.get("/ingest/database/{name}")
    async def database_status(request):
        return ok(await c.status(request.match_info["name"]))

    @routes.put("/ingest/database/{name}")
    async def publish(request):
        return ok(await c.publish(request.match_info["name"]))

    @routes.delete("/ingest/database/{name}")
    async def delete_database(request):
        return ok(await c.delete_database(request.match_info["name"]))

    @routes.post("/ingest/database/{name}/validate")
    async def validate(request):
        return ok(await c.validate(request.match_info["name"], await json_body(request)))

    @routes.post("/ingest/database/{name}/stats")
    async def stats(request):
        return ok(await c.record_stats(request.match_info["name"]))

    @routes.put("/ingest/database/{name}/step/{step}")
    async def step(request):
        return ok(await c.record_step(request.match_info["name"], request.match_info["step"],
                                      await json_body(request)))

    @routes.post("/ingest/table")
    async def register_table(request):
        return ok(await c.register_table(await json_body(request)))


def _transaction_routes(routes: web.RouteTableDef, c: IngestController) -> None:
    """/ingest/trans...: start, list, commit or abort; /ingest/chunk(s): allocation."""
    @routes.get("/ingest/trans")
    async def transactions(request):
        q = request.query
        return ok({"transactions": await c.transactions(q.get("database"), q.get("state"),
                                                        q.get("units", "0") not in ("0", ""))})

    @routes.post("/ingest/trans")
    async def start_transaction(request):
        return ok(await c.start_transaction(await json_body(request)))

    @routes.get("/ingest/trans/{id}")
    async def transaction(request):
        return ok({"transaction": await c.trans_row(int(request.match_info["id"]))})

    @routes.put("/ingest/trans/{id}")
    async def end_transaction(request):
        abort = request.query.get("abort", "0") not in ("0", "false", "")
        return ok(await c.end_transaction(int(request.match_info["id"]), abort))

    @routes.post("/ingest/chunk")
    async def chunk(request):
        body = await json_body(request)
        chunk_id = int(body["chunk"])
        placement = await c.allocate(str(body["database"]), [chunk_id])
        return ok({"location": c.location(chunk_id, placement[chunk_id])})

    @routes.post("/ingest/chunks")
    async def chunks(request):
        body = await json_body(request)
        placement = await c.allocate(str(body["database"]), [int(x) for x in body["chunks"]])
        return ok({"locations": [c.location(k, v) for k, v in sorted(placement.items())]})


def _data_routes(routes: web.RouteTableDef, c: IngestController) -> None:
    """Contributions (/ingest/file, /ingest/files) and the director index (/ingest/index)."""
    @routes.post("/ingest/file")
    async def contribute(request):
        return ok(await c.contribute(request.query, _body_pieces(request)))

    @routes.post("/ingest/files")
    async def contribute_bundle(request):
        return ok(await c.contribute_bundle(request.query, _body_pieces(request)))

    @routes.post("/ingest/index")
    async def index(request):
        return ok(await c.stage_index(request.query, _body_pieces(request)))

    @routes.post("/ingest/index/build")
    async def build_index(request):
        body = await json_body(request)
        return ok(await c.build_index(str(body.get("database")), str(body.get("table"))))


def _worker_routes(app: web.Application, membership) -> None:
    """/workers: register, list, remove (czar/membership.py)."""
    async def register_worker(request):
        return ok(await membership.register(await json_body(request)))

    async def list_workers(request):
        return ok(await membership.list())
    async def remove_worker(request):
        return ok(await membership.deregister(request.match_info["name"]))
    app.router.add_post("/workers", register_worker)
    app.router.add_get("/workers", list_workers)
    app.router.add_delete("/workers/{name}", remove_worker)


async def start_http(controller: IngestController, host: str, port: int, token: str,
                     ssl=None, max_json_bytes: int = 32 << 20, queries=None,
                     membership=None) -> web.AppRunner:
    """`ssl`: an SSLContext to serve HTTPS instead of HTTP; `queries`: the async queries
    (czar/async_queries.py) whose routes the app then serves; `membership`: the worker
    registry (czar/membership.py), likewise."""
    runner = web.AppRunner(build_app(controller, token, max_json_bytes, queries, membership),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl).start()
    return runner


# ---- OpenAPI 3.1 ---------------------------------------------------------------------------
def _op(summary: str, body: dict | None = None, params: list | None = None, raw: bool = False,
        write: bool = True) -> dict:
    op: dict = {"summary": summary, "responses": {
        "200": {"description": "success = 1", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Answer"}}}},
        "default": {"description": "success = 0 and error says why (400, 401, 404, 409, 503)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}}}
    if write:
        op["security"] = [{"token": []}]
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if raw:
        op["requestBody"] = {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}
    return op


def _q(name: str, typ: str = "string", required: bool = False, desc: str = "") -> dict:
    return {"name": name, "in": "query", "required": required, "description": desc,
            "schema": {"type": typ}}


def _p(name: str, typ: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": typ}}


_DIALECT = [_q("fields_terminated_by", desc="default ,"), _q("fields_enclosed_by", desc='default "'),
            _q("fields_escaped_by", desc="default \\"), _q("lines_terminated_by", desc="default \\n"),
            _q("ignore_lines", "integer", desc="header lines to skip")]

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Qserv czar HTTP API (ingest)", "version": "1",
             "description": "Register a database and its tables, load chunk files in "
                            "transactions, publish, validate. Answers are JSON with success "
                            "and error."},
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                      "description": "admin_token of the cluster config "
                                                     "(or auth_key in the body/query)"}},
        "schemas": {
            "Answer": {"type": "object", "required": ["success", "error"], "properties": {
                "success": {"type": "integer", "enum": [0, 1]}, "error": {"type": "string"},
                "error_ext": {"type": "object"}}},
            "Column": {"type": "object", "required": ["name", "type"], "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}}},
        }},
    "paths": {
        "/openapi.json": {"get": _op("This document", write=False)},
        "/meta/version": {"get": _op("Service and API version", write=False)},
        "/workers": {"get": _op("The workers the czar uses, with their registration and health",
                                write=False),
                     "post": _op("A worker registers (at start, then periodically): {name, host, "
                                 "grpc_port, mariadb_port, healthy, detail}; a new worker joins "
                                 "the running czar")},
        "/workers/{name}": {"delete": _op("Remove a worker that left for good (409 while it holds "
                                          "the only copy of a chunk)")},
        "/meta/placement": {"get": _op("Workers holding each chunk: {placement: {db: {chunk: "
                                       "[worker, ...]}}}", write=False)},
        "/ingest/database": {
            "get": _op("Databases known to the ingest", write=False),
            "post": _op("Register a database (its partitioning parameters)", body={
                "type": "object", "required": ["database"], "properties": {
                    "database": {"type": "string"}, "chunk_order": {"type": "integer"},
                    "subchunk_bits": {"type": "integer"}, "overlap": {"type": "number"},
                    "replication": {"type": "integer"}, "auth_key": {"type": "string"}}})},
        "/ingest/database/{name}": {
            "get": _op("Status: tables, transactions, contributions, chunks, steps",
                       params=[_p("name")], write=False),
            "put": _op("Publish: visible to queries at once; builds the director index and "
                       "records the chunk placement", params=[_p("name")]),
            "delete": _op("Delete the database everywhere", params=[_p("name")])},
        "/ingest/database/{name}/validate": {
            "post": _op("Compare row counts on workers with the manifest (or the committed "
                        "contributions) and the director index with the director rows",
                        params=[_p("name")], body={"type": "object", "properties": {
                            "expected": {"type": "object", "description": "table -> chunk -> rows"},
                            "overlap": {"type": "object", "description": "table -> chunk -> rows"},
                            "replicated": {"type": "object", "description": "table -> rows"}}})},
        "/ingest/database/{name}/stats": {
            "post": _op("Count the rows and bytes of every table on the workers again and keep "
                        "them (information_schema.TABLES, SHOW TABLE STATUS, qserv status)",
                        params=[_p("name")])},
        "/ingest/database/{name}/step/{step}": {
            "put": _op("Record a workflow step (state, seconds, detail)", params=[_p("name"), _p("step")],
                       body={"type": "object", "properties": {
                           "state": {"type": "string"}, "seconds": {"type": "number"},
                           "detail": {}}})},
        "/ingest/table": {
            "post": _op("Register a table", body={
                "type": "object", "required": ["database", "table", "schema"], "properties": {
                    "database": {"type": "string"}, "table": {"type": "string"},
                    "role": {"type": "string", "enum": ["director", "child", "replicated"]},
                    "is_partitioned": {"type": "integer"}, "is_director": {"type": "integer"},
                    "director_table": {"type": "string"}, "director_key": {"type": "string"},
                    "latitude_key": {"type": "string"}, "longitude_key": {"type": "string"},
                    "ra": {"type": "string"}, "dec": {"type": "string"},
                    "position_margin": {"type": "number", "description": (
                        "child with ra/dec of its own: the largest angle (degrees) between a "
                        "row's position and the chunk it is placed in (the partitioner's "
                        "manifest measures it); regions on the child's columns prune with it")},
                    "primary_key": {"type": "array", "items": {"type": "string"}},
                    "indexes": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}}}})},
        "/ingest/trans": {
            "get": _op("Transactions", params=[_q("database"), _q("state"),
                                               _q("units", "integer", desc="1: list each one's units")],
                       write=False),
            "post": _op("Start a transaction", body={
                "type": "object", "required": ["database"], "properties": {
                    "database": {"type": "string"}, "context": {"type": "string"},
                    "units": {"type": "array", "items": {"type": "string"}}}})},
        "/ingest/trans/{id}": {
            "get": _op("One transaction", params=[_p("id", "integer")], write=False),
            "put": _op("Commit (abort=0) or abort (abort=1): abort drops the transaction's "
                       "partition on every worker",
                       params=[_p("id", "integer"), _q("abort", "integer")])},
        "/ingest/chunk": {
            "post": _op("Where a chunk lives (allocated on first request)", body={
                "type": "object", "required": ["database", "chunk"], "properties": {
                    "database": {"type": "string"}, "chunk": {"type": "integer"}}})},
        "/ingest/chunks": {
            "post": _op("Where several chunks live", body={
                "type": "object", "required": ["database", "chunks"], "properties": {
                    "database": {"type": "string"},
                    "chunks": {"type": "array", "items": {"type": "integer"}}}})},
        "/ingest/file": {
            "post": _op("Contribute a file (the body) to a table in a transaction; streamed "
                        "to every worker holding the chunk (replicated tables: every worker)",
                        raw=True, params=[_q("transaction_id", "integer", True), _q("table", required=True),
                                          _q("chunk", "integer"), _q("overlap", "integer"),
                                          _q("columns", desc="comma-separated file columns"),
                                          _q("name", desc="file name, for reports")] + _DIALECT)},
        "/ingest/files": {
            "post": _op("Contribute many chunk files of chunks on the same workers (a bundle): the "
                        "body is one line of JSON {\"files\": [{table, chunk, overlap, name, columns, "
                        "bytes}]} then the files' bytes back to back; one stream per worker",
                        raw=True, params=[_q("transaction_id", "integer", True)] + _DIALECT)},
        "/ingest/index/build": {
            "post": _op("Build a director index from its staged files now (publish keeps it "
                        "unless a file is staged after)", body={
                "type": "object", "required": ["database", "table"], "properties": {
                    "database": {"type": "string"}, "table": {"type": "string"}}})},
        "/ingest/index": {
            "post": _op("Stage a director-index file (key, chunkId, subChunkId) for publish",
                        raw=True, params=[_q("database", required=True), _q("table", required=True),
                                          _q("name", desc="file name; sent again, it replaces"),
                                          _q("columns")] + _DIALECT)},
    },
}
