"""`qserv query`: async queries from the command line, over the czar's HTTP query API
(czar/http_query.py) — submit, status, wait (a progress bar of chunks done), fetch to a file
in any format, cancel, delete, list.

The login is the MySQL frontend's (HTTP Basic): `--user`/`--password`, by default the cluster
config's default user, so on the machine of a local cluster `qserv query submit "SELECT ..."`
needs nothing else.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

FORMATS = ("json", "jsonl", "csv", "arrow", "parquet")
SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
            ".arrow": "arrow", ".arrows": "arrow", ".parquet": "parquet"}
PIECE = 1 << 20


class QueryClientError(Exception):
    """What the API or the connection said went wrong (one line for the user)."""


class QueryClient:
    def __init__(self, url: str, user: str, password: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout
        self.context = ssl._create_unverified_context() if self.url.startswith("https") else None

    def open(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", self.auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout,
                                          context=self.context)
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error") or e.reason
            except ValueError:
                message = e.reason
            raise QueryClientError(f"{method} {path}: HTTP {e.code}: {message}") from None
        except urllib.error.URLError as e:
            raise QueryClientError(f"cannot reach the czar at {self.url}: {e.reason}") from None

    def call(self, method: str, path: str, body: dict | None = None,
             timeout: float | None = None) -> dict:
        with self.open(method, path, body, timeout) as response:
            answer = json.loads(response.read())
        if not answer.get("success"):
            raise QueryClientError(answer.get("error") or "the request failed")
        return answer

    def submit(self, query: str, database: str | None, request_id: str | None = None,
               max_rows: int | None = None) -> int:
        body: dict = {"query": query, "database": database or ""}
        if request_id:
            body["request_id"] = request_id
        if max_rows is not None:
            body["max_rows"] = max_rows
        return self.call("POST", "/query-async", body)["queryId"]

    def status(self, qid: int, wait: float = 0) -> dict:
        suffix = f"?wait={wait}" if wait else ""
        return self.call("GET", f"/query-async/status/{qid}{suffix}",
                         timeout=self.timeout + wait)["status"]

    def wait(self, qid: int, timeout: float | None = None, show=None) -> dict:
        """Poll until the query has finished; `show(status)` after every poll."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(qid, wait=1.0)
            if show:
                show(status)
            if status["status"] not in ("QUEUED", "EXECUTING"):
                return status
            if end is not None and time.monotonic() > end:
                return status

    def fetch(self, qid: int, out: Path, fmt: str) -> int:
        """The result into `out`; the bytes written. Checks the format's end marker."""
        tmp = out.with_name(out.name + ".part")
        n = 0
        with self.open("GET", f"/query-async/result/{qid}?format={fmt}", timeout=3600) as response:
            if response.headers.get("Content-Type", "").startswith("application/json") \
                    and fmt != "json":
                raise QueryClientError(json.loads(response.read()).get("error") or "failed")
            with open(tmp, "wb") as f:
                while piece := response.read(PIECE):
                    f.write(piece)
                    n += len(piece)
        check_end(tmp, fmt)
        tmp.replace(out)
        return n


def check_end(path: Path, fmt: str) -> None:
    """The download ended with the format's end marker, not an error or a cut."""
    if fmt in ("arrow", "parquet"):
        import pyarrow.ipc as ipc
        import pyarrow.parquet as pq
        try:
            if fmt == "arrow":
                with ipc.open_stream(str(path)) as reader:
                    reader.read_all()
            else:
                pq.ParquetFile(path).metadata
        except Exception as e:  # noqa: BLE001 - any reader error means a bad download
            raise QueryClientError(f"the {fmt} download is incomplete: {e}") from None
        return
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read().decode("utf-8", "replace")
    last = tail.rstrip("\n").rsplit("\n", 1)[-1]
    if fmt == "csv":
        ok, error = last.startswith("#END,"), last.startswith("#ERROR,")
    elif fmt == "jsonl":
        ok, error = last.startswith('{"end"'), last.startswith('{"error"')
    else:
        ok, error = '"complete":true' in last, '"complete":false' in last
    if error:
        raise QueryClientError(f"the server failed during the download: {last}")
    if not ok:
        raise QueryClientError("the download ended without its end marker (cut off)")


def progress_printer(stream=sys.stderr):
    """A progress bar of chunks done on a terminal (rich), a line every few seconds else."""
    if stream.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
        bar = Progress("[progress.description]{task.description}", BarColumn(),
                       MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        task = None

        def show(status):
            nonlocal task
            if task is None:
                bar.start()
                task = bar.add_task(f"query {status['queryId']}", total=status["totalChunks"] or 1)
            bar.update(task, completed=status["completedChunks"],
                       description=f"query {status['queryId']} {status['status']}")
            if status["status"] not in ("QUEUED", "EXECUTING"):
                bar.stop()
        return show
    last = [0.0]

    def show(status):
        now = time.monotonic()
        if now - last[0] >= 5 or status["status"] not in ("QUEUED", "EXECUTING"):
            last[0] = now
            print(f"query {status['queryId']}: {status['status']} {status['completedChunks']}/"
                  f"{status['totalChunks']} chunks, {status['collectedRows']} rows", file=stream)
    return show


def client_for(args) -> QueryClient:
    from qserv.config import ClusterConfig
    url, user, password = args.url, args.user, args.password
    if url is None or user is None or password is None:
        config = ClusterConfig.load(args.dir)
        scheme = "https" if config.tls_cert else "http"
        url = url or f"{scheme}://{config.host}:{config.http_port}"
        user = user or config.user
        password = password if password is not None else (
            config.password if user == config.user else (config.users or {}).get(user, ""))
    return QueryClient(url, user, password)


def format_of(args) -> str:
    if args.format:
        return args.format
    return SUFFIXES.get(Path(args.output).suffix.lower(), "jsonl")


def cmd_query(args) -> int:
    client = client_for(args)
    action = args.action
    if action == "submit":
        qid = client.submit(args.sql, args.database, args.request_id, args.max_rows)
        print(qid)
        if args.wait:
            status = client.wait(qid, show=progress_printer())
            print(status["status"], file=sys.stderr)
            return 0 if status["status"] == "COMPLETED" else 1
        return 0
    if action == "status":
        print(json.dumps(client.status(args.id), indent=2))
        return 0
    if action == "wait":
        status = client.wait(args.id, args.timeout, show=progress_printer())
        print(json.dumps(status, indent=2))
        return 0 if status["status"] == "COMPLETED" else 1
    if action == "fetch":
        fmt = format_of(args)
        n = client.fetch(args.id, Path(args.output), fmt)
        print(f"{args.output}: {n} bytes ({fmt})", file=sys.stderr)
        return 0
    if action == "cancel":
        status = client.call("DELETE", f"/query-async/{args.id}")["status"]
        print(f"query {args.id}: {status['status']}")
        return 0
    if action == "delete":
        client.call("DELETE", f"/query-async/result/{args.id}")
        print(f"query {args.id}: result deleted")
        return 0
    if action == "list":
        path = f"/query-async?limit={args.limit}" + (f"&state={args.state}" if args.state else "")
        for q in client.call("GET", path)["queries"]:
            print(f"{q['queryId']}\t{q['type']}\t{q['status']}\t{q['completedChunks']}/"
                  f"{q['totalChunks']}\t{q['finalRows']}\t{q['query'][:60]}")
        return 0
    raise ValueError(f"unknown action {action}")


def add_parser(sub, with_dir) -> None:
    """`qserv query ...` on the `qserv` command's subparsers."""
    p = with_dir(sub.add_parser("query", help="async queries over the czar's HTTP API: submit, "
                                              "status, wait, fetch, cancel, delete, list"))
    p.add_argument("--url", default=None, help="the czar's HTTP API (default: from the cluster config)")
    p.add_argument("--user", default=None, help="MySQL user (default: the config's default user)")
    p.add_argument("--password", default=None, help="its password (default: from the config)")
    actions = p.add_subparsers(dest="action", required=True)
    sp = actions.add_parser("submit", help="submit a SELECT; prints its query id")
    sp.add_argument("sql")
    sp.add_argument("-d", "--database", default=None)
    sp.add_argument("--request-id", default=None,
                    help="the same id again answers with the first query (no second run)")
    sp.add_argument("--max-rows", type=int, default=None, help="keep at most this many rows")
    sp.add_argument("--wait", action="store_true", help="then wait for it with a progress bar")
    for name, what in (("status", "state and progress"), ("cancel", "stop it"),
                       ("delete", "delete its result")):
        actions.add_parser(name, help=what).add_argument("id", type=int)
    sp = actions.add_parser("wait", help="wait with a progress bar of chunks done; exit 0 if "
                                         "COMPLETED")
    sp.add_argument("id", type=int)
    sp.add_argument("--timeout", type=float, default=None)
    sp = actions.add_parser("fetch", help="download the result to a file")
    sp.add_argument("id", type=int)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--format", choices=FORMATS, default=None,
                    help="default: from the file's suffix (.csv .jsonl .json .arrow .parquet)")
    sp = actions.add_parser("list", help="your queries, newest first")
    sp.add_argument("--state", default=None, help="e.g. EXECUTING or COMPLETED,FAILED")
    sp.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_query)
