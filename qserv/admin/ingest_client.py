"""`qserv ingest`: the ingest workflow, client side, over the czar's HTTP API.

Steps (the same as the Argo DAG in deploy/argo/): queue (read the manifest) → register (the
database and its tables) → allocate (chunks to workers) → load (one transaction per chunk:
every chunk file of every table, committed together; replicated tables in one transaction
each) → index (stage the director-index files) → publish → validate.

Resumable: the czar keeps every transaction with its `context` (the unit it loads, e.g.
`chunk:1234`). A restarted run skips the units of committed transactions, aborts the ones
left open (their partitions are dropped on every worker) and loads the rest, so nothing is
loaded twice and nothing is lost. A failed unit is aborted and retried in a new transaction
(`--retries`, counted); a unit that keeps failing fails the run with the error of its file,
and nothing of it stays on the workers.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from qserv.catalog import CHILD, DIRECTOR, REPLICATED, TableSpec
from qserv.progress import PlainProgress, interactive

STEPS = ("queue", "register", "allocate", "load", "index", "publish", "validate")
# A transaction loads a bundle of chunks on the same workers (POST /ingest/files): whole
# chunks until it holds BUNDLE_BYTES or BUNDLE_FILES files. Big enough that the per-request,
# per-transaction and per-stream costs vanish for small chunks; small enough that the last
# bundles of each worker end together, and that a retry repeats little.
BUNDLE_BYTES = 16 << 20
BUNDLE_FILES = 1000
BUNDLE_READ = 4 << 20


class IngestClientError(RuntimeError):
    def __init__(self, message: str, status: int = 0, answer: dict | None = None):
        super().__init__(message)
        self.status = status
        self.answer = answer or {}


# ---- what to ingest ----------------------------------------------------------------------
@dataclass
class FileContribution:
    table: str
    chunk: int | None          # None: a replicated table's file
    overlap: bool
    path: Path
    rows: int | None = None    # expected, from the manifest
    columns: list[str] | None = None   # the file's columns in order (None: the table's + chunk columns)

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size


@dataclass
class Unit:
    """What one transaction loads: all files of one chunk, or of one replicated table."""
    key: str
    chunk: int | None
    files: list[FileContribution] = field(default_factory=list)


@dataclass
class IngestPlan:
    database: str
    tables: list[TableSpec]            # registration order: directors first
    units: list[Unit]
    chunk_order: int = 5
    subchunk_bits: int = 3
    overlap: float = 0.01667
    replication: int = 1
    dialect: dict = field(default_factory=dict)       # LOAD DATA options (see /openapi.json)
    index_files: list[tuple[str, Path]] = field(default_factory=list)  # (director table, file)
    index_dialect: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)      # for validate: expected/overlap/replicated
    source: str = ""
    # What `qserv ingest status` shows as the source (default `source`): `qserv load`
    # partitions into a temporary directory, removed once loaded.
    origin: str = ""
    # A digest of what the manifest says of the data (see data_fingerprint): a published
    # database keeps the one it was loaded from, so a run with other data is refused.
    fingerprint: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for u in self.units for f in u.files)

    @property
    def total_rows(self) -> int:
        """The catalog's rows: overlap rows (copies of rows of neighbouring chunks) are
        counted apart, in `overlap_rows`, here and in every total the ingest prints."""
        return sum(f.rows or 0 for u in self.units for f in u.files if not f.overlap)

    @property
    def overlap_rows(self) -> int:
        return sum(f.rows or 0 for u in self.units for f in u.files if f.overlap)


def table_json(db: str, t: TableSpec) -> dict:
    return {"database": db, "table": t.name, "role": t.role,
            "is_partitioned": int(t.role != REPLICATED), "is_director": int(t.role == DIRECTOR),
            "director_table": t.director_table or "", "director_key": t.director_key or "",
            "ra": t.ra, "dec": t.dec, "position_margin": t.position_margin,
            "primary_key": t.primary_key, "indexes": t.indexes,
            "schema": [{"name": c.name, "type": c.type} for c in t.columns],
            **({"placed_by_position": t.placed_by_position}
               if t.placed_by_position is not None else {})}


# ---- the HTTP client ---------------------------------------------------------------------
class IngestClient:
    def __init__(self, base_url: str, token: str, session: aiohttp.ClientSession,
                 ssl_context: ssl.SSLContext | None = None):
        self.base = base_url.rstrip("/")
        self.token = token
        self.session = session
        self.ssl = ssl_context if ssl_context is not None else True

    @classmethod
    def for_config(cls, config, session) -> "IngestClient":
        if config.tls_cert:   # the czar serves HTTPS with this certificate
            return cls(f"https://{config.host}:{config.http_port}", config.admin_token, session,
                       trusting(config.tls_cert))
        return cls(f"http://{config.host}:{config.http_port}", config.admin_token, session)

    async def call(self, method: str, path: str, *, json_body=None, params=None, data=None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.session.request(method, self.base + path, json=json_body, ssl=self.ssl,
                                            params=params, data=data, headers=headers) as r:
                text = await r.text()
                status = r.status
        except aiohttp.ClientError as e:
            raise IngestClientError(f"{method} {path}: cannot reach the czar at {self.base} ({e})")
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            raise IngestClientError(f"{method} {path}: HTTP {status}: {text[:200]}", status)
        if not answer.get("success"):
            raise IngestClientError(answer.get("error") or f"HTTP {status}", status, answer)
        return answer

    async def upload(self, trans_id: int, f: FileContribution, dialect: dict) -> dict:
        params = {"transaction_id": str(trans_id), "table": f.table, "name": str(f.path),
                  "overlap": "1" if f.overlap else "0", **dialect}
        if f.chunk is not None:
            params["chunk"] = str(f.chunk)
        if f.columns:
            params["columns"] = ",".join(f.columns)
        with open(f.path, "rb") as fh:
            return (await self.call("POST", "/ingest/file", params=params, data=fh))["contrib"]


    async def upload_bundle(self, trans_id: int, files: list[FileContribution], dialect: dict,
                            sent=None) -> list[dict]:
        """Many chunk files in one request (`POST /ingest/files`): a line of JSON listing them,
        then their bytes back to back. `sent(nbytes)` is called as the bytes go."""
        listing = [{"table": f.table, "chunk": f.chunk, "overlap": int(f.overlap),
                    "name": str(f.path), "bytes": f.bytes,
                    **({"columns": f.columns} if f.columns else {})} for f in files]

        async def body():
            yield json.dumps({"files": listing}, separators=(",", ":")).encode() + b"\n"
            for f, entry in zip(files, listing):
                left = entry["bytes"]
                with open(f.path, "rb") as fh:
                    while left > 0:
                        piece = fh.read(min(left, BUNDLE_READ))
                        if not piece:
                            break
                        left -= len(piece)
                        yield piece
                if left:
                    raise IngestClientError(f"{f.path} changed while it was sent (shorter than "
                                            f"{entry['bytes']} bytes)")
                if sent:
                    sent(entry["bytes"])
        params = {"transaction_id": str(trans_id), **dialect}
        return (await self.call("POST", "/ingest/files", params=params, data=body()))["contribs"]


def trusting(cert_file: str) -> ssl.SSLContext:
    """A client context that trusts the system's CAs and the czar's own certificate (which
    may be self-signed, or a leaf whose CA the system does not know)."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=cert_file)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


# ---- the workflow ------------------------------------------------------------------------
@dataclass
class IngestReport:
    database: str
    steps: dict[str, float] = field(default_factory=dict)     # step -> seconds
    units_loaded: int = 0             # chunks (and replicated tables): the units of loading
    units_skipped: int = 0            # committed by an earlier run
    transactions: int = 0             # committed by this run (a bundle of units each)
    recovered: int = 0                # open transactions of an earlier run, aborted
    retries: int = 0                  # failed attempts aborted and retried
    rows: int = 0                     # the catalog's rows, without overlap rows
    overlap_rows: int = 0
    bytes: int = 0
    failures: list[str] = field(default_factory=list)
    validation: dict | None = None
    published: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and self.published and bool(self.validation and self.validation["ok"])


class Progress:
    """A rich progress display (bytes and units) on a terminal, plain periodic lines
    elsewhere (qserv/progress.py), or nothing."""

    def __init__(self, enabled: bool, total_bytes: int, total_units: int, label: str):
        self.enabled = enabled
        self.plain: PlainProgress | None = None
        if not enabled:
            return
        if not interactive():
            self.plain = PlainProgress()
            self.plain_bytes = self.plain.add_task(f"{label} data", total=total_bytes)
            self.plain_units = self.plain.add_task(f"{label} chunks + tables", total=total_units,
                                                   unit="units")
            return
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as P,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)
        self.p = P(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(), TimeElapsedColumn())
        self.u = P(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        from rich.console import Group
        from rich.live import Live
        self.live = Live(Group(self.p, self.u), refresh_per_second=4)
        self.bytes_task = self.p.add_task(f"{label} data", total=total_bytes)
        self.unit_task = self.u.add_task(f"{label} chunks + tables", total=total_units)

    def __enter__(self):
        if self.enabled and self.plain is None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.plain is not None:
            self.plain.__exit__(*exc)
        elif self.enabled:
            self.live.__exit__(*exc)

    def advance(self, nbytes: int = 0, units: int = 0):
        if self.plain is not None:
            self.plain.update(self.plain_bytes, advance=nbytes)
            self.plain.update(self.plain_units, advance=units)
        elif self.enabled:
            if nbytes:
                self.p.advance(self.bytes_task, nbytes)
            if units:
                self.u.advance(self.unit_task, units)


async def run_ingest(client: IngestClient, plan: IngestPlan, *, jobs_per_worker: int = 2,
                     retries: int = 2, progress: bool = True, echo=print,
                     queue_seconds: float = 0.0, only: str | None = None,
                     bundle_bytes: int = BUNDLE_BYTES) -> IngestReport:
    """All steps, or `only` one of them (what each task of the Argo DAG runs). `bundle_bytes`
    0: one transaction per chunk, one request per file (POST /ingest/file), as before
    bundles."""
    run = IngestRun(client, plan, only, echo)
    return await run.run(queue_seconds=queue_seconds, jobs_per_worker=jobs_per_worker,
                         retries=retries, progress=progress, bundle_bytes=bundle_bytes)


class IngestRun:
    """One run of the steps (STEPS) over the czar's HTTP API: one method per step, each
    recorded with `PUT /ingest/database/{db}/step/{step}` by `step()`. A new step is a
    method here, its place in `run()` and in STEPS (and in the Argo DAG)."""

    def __init__(self, client: IngestClient, plan: IngestPlan, only: str | None, echo):
        self.client, self.plan, self.only, self.echo = client, plan, only, echo
        self.db = plan.database
        self.report = IngestReport(plan.database)

    def wanted(self, name: str) -> bool:
        return self.only is None or self.only == name

    async def _record(self, name: str, body: dict) -> dict:
        return await self.client.call("PUT", f"/ingest/database/{self.db}/step/{name}", json_body=body)

    async def step(self, name: str, make, detail=None):
        """Run step `name` (`make()`) when wanted, recording RUNNING, then DONE with its
        seconds and `detail()`, or FAILED."""
        if not self.wanted(name):
            return None
        started = time.monotonic()
        if name != "register":
            await self._record(name, {"state": "RUNNING"})
        try:
            result = await make()
        except BaseException:
            if name != "register":
                await _quiet(self._record(name, {"state": "FAILED",
                                                 "seconds": time.monotonic() - started}))
            raise
        seconds = time.monotonic() - started
        self.report.steps[name] = seconds
        await self._record(name, {"state": "DONE", "seconds": round(seconds, 3),
                                  "detail": detail() if detail else None})
        return result

    async def run(self, *, queue_seconds: float, jobs_per_worker: int, retries: int,
                  progress: bool, bundle_bytes: int) -> IngestReport:
        plan, report = self.plan, self.report
        if self.only in (None, "register", "queue", "load", "index") and plan.fingerprint:
            await self.refuse_other_data()
        await self.step("register", self.register)
        if self.wanted("queue"):
            await self.queue(queue_seconds)
            if self.only == "queue":
                return report
        if await self.already_published():
            return report
        chunks = sorted({u.chunk for u in plan.units if u.chunk is not None})
        placement = await self.step("allocate", lambda: self.allocate(chunks),
                                    lambda: {"chunks": len(chunks)})
        if self.wanted("load"):
            placement = placement or await self.allocate(chunks)
        if plan.source and (self.wanted("load") or self.wanted("index")):
            await self.verify_files()
        # load and index are independent (the DAG runs them side by side too): the director
        # index file goes to the czar while the chunk files go to the workers.
        await asyncio.gather(
            self.step("load", lambda: _load(self.client, plan, placement, report, jobs_per_worker,
                                            retries, progress, bundle_bytes),
                      lambda: {"units": report.units_loaded, "skipped": report.units_skipped,
                               "transactions": report.transactions,
                               "recovered": report.recovered, "retries": report.retries,
                               "rows": report.rows, "overlap_rows": report.overlap_rows,
                               "bytes": report.bytes, "failures": report.failures[:5]}),
            self.step("index", self.index, lambda: {"files": len(plan.index_files)}))
        if report.failures:
            return report
        await self.step("publish", self.publish)
        await self.step("validate", self.validate,
                        lambda: {"ok": (report.validation or {}).get("ok"),
                                 "n_differences": (report.validation or {}).get("n_differences")})
        return report

    async def refuse_other_data(self) -> None:
        """A published database is never changed in place: the same data again is only
        validated, other data is refused (before anything is registered or recorded). So is
        resuming an ingest whose committed chunks came from other data (the mix would be
        neither)."""
        plan, db = self.plan, self.db
        state, recorded = await _recorded_fingerprint(self.client, db)
        if recorded and recorded != plan.fingerprint:
            what = ("is published and holds" if state == "PUBLISHED"
                    else "has chunks committed by an ingest of")
            raise IngestClientError(
                f"{db} {what} other data than {plan.origin or plan.source} "
                "(a database is not changed in place): drop it first "
                f"(`qserv drop {db} --yes`) and ingest again, or ingest into a new database "
                f"(`qserv ingest {plan.origin and 'OUT' or plan.source} NEW_NAME`)")

    async def register(self) -> None:
        """Idempotent: a resumed run registers the same things again."""
        plan = self.plan
        await self.client.call("POST", "/ingest/database", json_body={
            "database": self.db, "chunk_order": plan.chunk_order,
            "subchunk_bits": plan.subchunk_bits, "overlap": plan.overlap,
            "replication": plan.replication})
        for t in plan.tables:
            await self.client.call("POST", "/ingest/table", json_body=table_json(self.db, t))

    async def queue(self, seconds: float) -> None:
        """Reading and checking the manifest (the caller did it): recorded with its time."""
        self.report.steps = {"queue": seconds, **self.report.steps}
        await _quiet(self._record("queue", {
            "state": "DONE", "seconds": round(seconds, 3),
            "detail": {"source": self.plan.origin or self.plan.source,
                       "fingerprint": self.plan.fingerprint}}))

    async def already_published(self) -> bool:
        """True when the database is published already (the same data: the fingerprint
        check came first): then only validated."""
        status = (await self.client.call("GET", f"/ingest/database/{self.db}"))["database"]
        if status["state"] != "PUBLISHED" or self.only not in (None, "validate", "publish"):
            return False
        if self.only is None:
            self.echo(f"{self.db} is already published (with this data): validating only")
        self.report.published = True
        if self.only != "publish":
            self.report.validation = (await self.client.call(
                "POST", f"/ingest/database/{self.db}/validate", json_body=self.plan.expected))["validation"]
        return True

    async def allocate(self, chunks: list[int]) -> dict[int, list[str]]:
        """Idempotent: the placement of chunks already allocated."""
        answer = await self.client.call("POST", "/ingest/chunks",
                                        json_body={"database": self.db, "chunks": chunks})
        return {loc["chunk"]: [w["worker"] for w in loc["workers"]] for loc in answer["locations"]}

    async def verify_files(self) -> None:
        """Every file against the manifest before any row is sent (qserv/verify.py): a torn,
        truncated or edited file stops the ingest with its name and first bad line."""
        from qserv import verify
        try:
            await asyncio.to_thread(verify.check_output, self.plan.source)
        except verify.CorruptFile as e:
            raise IngestClientError(f"{e}; no row was sent (partition again, or restore the file)")

    async def index(self) -> int:
        """Stage the director index files, then build each index now, beside the load,
        instead of at publish (after it)."""
        n = 0
        for table, path in self.plan.index_files:
            with open(path, "rb") as fh:
                answer = await self.client.call("POST", "/ingest/index", data=fh, params={
                    "database": self.db, "table": table, "name": Path(path).name,
                    **self.plan.index_dialect})
            n += answer["index"]["rows"]
        for table in sorted({t for t, _ in self.plan.index_files}):
            await self.client.call("POST", "/ingest/index/build",
                                   json_body={"database": self.db, "table": table})
        return n

    async def publish(self) -> None:
        await self.client.call("PUT", f"/ingest/database/{self.db}")
        self.report.published = True

    async def validate(self) -> None:
        report = self.report
        report.validation = (await self.client.call(
            "POST", f"/ingest/database/{self.db}/validate", json_body=self.plan.expected))["validation"]
        if not report.validation["ok"] and self.only is not None:
            raise IngestClientError(f"validation found {report.validation['n_differences']} "
                                    f"differences: {report.validation['differences'][:5]}")


async def _recorded_fingerprint(client: IngestClient, db: str) -> tuple[str, str]:
    """(state, the data fingerprint of the ingest that published `db` or committed chunks of
    it); the fingerprint is "" when there is nothing to compare with: `db` not registered, no
    transaction committed, or recorded by a run before fingerprints (then validate decides)."""
    try:
        status = (await client.call("GET", f"/ingest/database/{db}"))["database"]
    except IngestClientError as e:
        if e.status == 404:
            return "", ""
        raise
    if status["state"] != "PUBLISHED" and not (status.get("transactions") or {}).get("COMMITTED"):
        return status["state"], ""
    for s in status.get("steps") or []:
        if s["step"] != "queue":
            continue
        detail = s.get("detail")
        if isinstance(detail, str):
            try:
                detail = json.loads(detail)
            except ValueError:
                detail = None
        return status["state"], (detail.get("fingerprint") or "") if isinstance(detail, dict) else ""
    return status["state"], ""


async def _quiet(coro):
    try:
        await coro
    except Exception:
        pass


async def _load(client: IngestClient, plan: IngestPlan, placement: dict[int, list[str]],
                report: IngestReport, jobs_per_worker: int, retries: int, show: bool,
                bundle_bytes: int = BUNDLE_BYTES) -> None:
    """The load step: every unit not committed yet, in transactions (bundles of chunks, or
    one chunk each), `jobs_per_worker` at a time per worker."""
    todo = await _pending_units(client, plan, report)
    queues: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)
    for u in todo:
        if u.chunk is None:
            queues[REPLICATED_QUEUE].put_nowait(u)
        elif bundle_bytes:     # a bundle's chunks live on the same workers
            queues[",".join(sorted(placement[u.chunk]))].put_nowait(u)
        else:
            queues[placement[u.chunk][0]].put_nowait(u)
    total = sum(f.bytes for u in todo for f in u.files)
    with Progress(show, total, len(todo), plan.database) as bar:
        loader = _Loader(client, plan, report, bar, retries, bundle_bytes)
        await asyncio.gather(*(loader.worker_loop(q, bool(bundle_bytes) and name != REPLICATED_QUEUE)
                               for name, q in queues.items()
                               for _ in range(1 if name == REPLICATED_QUEUE else jobs_per_worker)))


REPLICATED_QUEUE = "*replicated*"    # replicated tables go to every worker: one queue, one loop


async def _pending_units(client: IngestClient, plan: IngestPlan, report: IngestReport) -> list[Unit]:
    """The units no committed transaction holds; transactions left open by a killed run (or
    a dead worker) are aborted first."""
    transactions = (await client.call("GET", "/ingest/trans", params={
        "database": plan.database, "units": "1"}))["transactions"]
    committed = {t["context"] for t in transactions if t["state"] == "COMMITTED"}
    committed |= {u for t in transactions if t["state"] == "COMMITTED" for u in t.get("units", [])}
    for t in transactions:
        if t["state"] in ("STARTED", "ABORTING"):
            await client.call("PUT", f"/ingest/trans/{t['id']}", params={"abort": "1"})
            report.recovered += 1
    todo = [u for u in plan.units if u.key not in committed]
    report.units_skipped = len(plan.units) - len(todo)
    return todo


def _count_rows(files: list[FileContribution], answers: list[dict]) -> tuple[int, int]:
    """(rows, overlap rows) the workers loaded; a file whose count differs from the
    manifest's fails its transaction."""
    rows = overlap_rows = 0
    for f, answer in zip(files, answers):
        if f.rows is not None and answer["rows"] != f.rows:
            raise IngestClientError(f"{f.path}: {answer['rows']} rows loaded, the manifest "
                                    f"says {f.rows}")
        if f.overlap:
            overlap_rows += answer["rows"]
        else:
            rows += answer["rows"]
    return rows, overlap_rows


class _Loader:
    """The load step's transactions: a unit (one chunk's files) or a bundle of units per
    transaction, committed when loaded, aborted and retried when not."""

    def __init__(self, client: IngestClient, plan: IngestPlan, report: IngestReport, bar,
                 retries: int, bundle_bytes: int):
        self.client, self.plan, self.report, self.bar = client, plan, report, bar
        self.retries, self.bundle_bytes = retries, bundle_bytes

    async def in_transaction(self, units: list[Unit], context: str, failed_what: str,
                             load, listed: bool) -> None:
        """Load `units` in one transaction, committed when `load(trans_id, advance)` returns
        (rows, overlap rows) and aborted when it fails, retried up to `retries` times:
        nothing of a failed attempt is kept. `listed`: the transaction names its units
        (bundles: a resumed run skips the committed ones)."""
        client, report, bar = self.client, self.report, self.bar
        last = None
        body: dict = {"database": self.plan.database, "context": context}
        if listed:
            body["units"] = [u.key for u in units]
        for attempt in range(self.retries + 1):
            trans = (await client.call("POST", "/ingest/trans", json_body=body))["transaction"]
            sent = 0

            def advance(n: int) -> None:
                nonlocal sent
                sent += n
                bar.advance(nbytes=n)
            try:
                rows, overlap_rows = await load(trans["id"], advance)
                await client.call("PUT", f"/ingest/trans/{trans['id']}", params={"abort": "0"})
                report.units_loaded += len(units)
                report.transactions += 1
                report.rows += rows
                report.overlap_rows += overlap_rows
                report.bytes += sent
                bar.advance(units=len(units))
                return
            except IngestClientError as e:
                last = e
                bar.advance(nbytes=-sent)
                try:
                    await client.call("PUT", f"/ingest/trans/{trans['id']}", params={"abort": "1"})
                except IngestClientError as abort_error:
                    report.failures.append(f"{context}: {e}; and its abort failed: {abort_error} "
                                           "(run again to finish the abort)")
                    return
                if attempt < self.retries:
                    report.retries += 1
        report.failures.append(f"{failed_what}: failed after {self.retries + 1} attempts "
                               f"(transactions aborted, nothing kept): {last}")

    async def load_unit(self, u: Unit) -> None:
        async def load(trans_id, advance) -> tuple[int, int]:
            answers = []
            for f in u.files:
                try:
                    answers.append(await self.client.upload(trans_id, f, self.plan.dialect))
                except IngestClientError as e:
                    raise IngestClientError(f"{f.path} ({f.table}"
                                            + (f", chunk {f.chunk}" if f.chunk is not None else "")
                                            + (", overlap" if f.overlap else "") + f"): {e}")
                _count_rows([f], answers[-1:])
                advance(f.bytes)
            return _count_rows(u.files, answers)
        await self.in_transaction([u], u.key, u.key, load, listed=False)

    async def load_bundle(self, units: list[Unit]) -> None:
        files = [f for u in units for f in u.files]
        keys = [u.key for u in units]
        context = keys[0] if len(keys) == 1 else f"bundle:{keys[0]}+{len(keys) - 1}"

        async def load(trans_id, advance) -> tuple[int, int]:
            try:
                answers = await self.client.upload_bundle(trans_id, files, self.plan.dialect, advance)
            except IngestClientError as e:
                raise IngestClientError(f"a bundle of {len(files)} files ({len(units)} "
                                        f"chunks from {keys[0]}): {e}")
            return _count_rows(files, answers)
        await self.in_transaction(units, context, f"{context} ({len(units)} chunks)", load,
                                  listed=True)

    def next_bundle(self, q: asyncio.Queue) -> list[Unit]:
        units: list[Unit] = []
        nbytes, nfiles = 0, 0
        while not q.empty() and (not units or (nbytes < self.bundle_bytes and nfiles < BUNDLE_FILES)):
            u = q.get_nowait()
            units.append(u)
            nbytes += sum(f.bytes for f in u.files)
            nfiles += len(u.files)
        return units

    async def worker_loop(self, q: asyncio.Queue, bundles: bool) -> None:
        while not q.empty():
            if bundles:
                await self.load_bundle(self.next_bundle(q))
            else:
                await self.load_unit(q.get_nowait())


# ---- the partitioner's manifest ----------------------------------------------------------
MANIFEST = "manifest.json"
# The partitioner's CSV (qserv.catalog.LOAD_FORMAT) as /ingest/file parameters.
PARTITIONER_DIALECT = {"fields_terminated_by": ",", "fields_enclosed_by": '"',
                       "fields_escaped_by": "", "lines_terminated_by": "\\n"}


def data_fingerprint(manifest: dict) -> str:
    """A digest of the data a partitioner output holds: chunking, table definitions, and per
    file its rows and checksums (not where the input came from nor when it was read), so two
    partitionings of the same catalog agree and any changed row changes it."""
    import hashlib
    volatile = ("inputs", "seconds")
    content = {
        "chunking": [manifest.get("chunk_order"), manifest.get("subchunk_bits"),
                     manifest.get("overlap_deg")],
        "spec": [{k: v for k, v in t.items() if k not in ("data", "schema", "csv")}
                 for t in manifest.get("spec", {}).get("tables", [])],
        "tables": {name: {k: v for k, v in entry.items() if k not in volatile}
                   for name, entry in manifest.get("tables", {}).items()}}
    return "sha256:" + hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def position_margin(t: TableSpec, entry: dict, path) -> float | None:
    """The margin a child table with positions of its own is registered with: the one the
    partitioner measured (the largest offset of a row from its director), or the spec's
    declared one when it is at least that. A smaller declared margin is refused: the czar
    would prune chunks that hold matching rows (silently missing rows)."""
    measured = entry.get("position_margin")
    declared = t.position_margin
    if measured is None:
        return declared     # not measured (an older manifest, another run's index): as declared
    if declared is None:
        return float(measured)
    if declared < measured:
        raise IngestClientError(
            f"{path}: table {t.name} declares position_margin {declared:g} deg, but a row lies "
            f"{measured:.6g} deg from its {t.director_table} row (the partitioner measured it); "
            f"a smaller margin would lose rows of spatial queries on {t.name}: raise it to at "
            f"least {measured:.6g} or remove it from the spec")
    return declared


def plan_from_manifest(path: str | Path, *, database: str | None = None,
                       replication: int = 1) -> IngestPlan:
    """The ingest plan of a `qserv partition` output (its directory or its manifest.json):
    one unit per chunk (every table's chunk and overlap files), one per replicated table."""
    from qserv.catalog import DatabaseSpec
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.exists():
        raise IngestClientError(f"no manifest at {path} (give the partitioner's output directory "
                                "or its manifest.json)")
    m = json.loads(path.read_text())
    base = path.parent
    if m.get("format", "csv") != "csv":
        raise IngestClientError(f"{path}: chunk files are {m.get('format')}; the ingest loads CSV "
                                "(partition with --format csv)")
    spec = DatabaseSpec.from_json(json.dumps(m["spec"]))
    order = {DIRECTOR: 0, CHILD: 1, REPLICATED: 2}
    tables = sorted((spec.table(name) for name in m["tables"]), key=lambda t: order[t.role])
    units: dict[int, Unit] = {}
    replicated: list[Unit] = []
    expected: dict[str, dict] = {"expected": defaultdict(dict), "overlap": defaultdict(dict),
                                 "replicated": {}}
    index_files = []
    for t in tables:
        entry = m["tables"][t.name]
        if t.role == CHILD and "placed_by_position" in entry:
            t.placed_by_position = int(entry["placed_by_position"])
        columns = entry.get("columns")
        if t.role == REPLICATED:
            rows = int(entry["rows"]) - int(entry.get("rejected", 0))
            replicated.append(Unit(f"table:{t.name}", None, [FileContribution(
                t.name, None, False, base / entry["file"], rows, columns)]))
            expected["replicated"][t.name] = rows
            continue
        for c, e in entry.get("chunks", {}).items():
            c = int(c)
            unit = units.setdefault(c, Unit(f"chunk:{c}", c))
            if e.get("file"):
                unit.files.append(FileContribution(t.name, c, False, base / e["file"],
                                                   int(e["rows"]), columns))
                expected["expected"][t.name][str(c)] = int(e["rows"])
            if e.get("overlap_file"):
                unit.files.append(FileContribution(t.name, c, True, base / e["overlap_file"],
                                                   int(e["overlap_rows"]), columns))
                expected["overlap"][t.name][str(c)] = int(e["overlap_rows"])
        if t.role == DIRECTOR and entry.get("index"):
            index_files.append((t.name, base / entry["index"]["file"]))
        if t.role == CHILD and t.has_position:
            t.position_margin = position_margin(t, entry, path)
    index_columns = None
    for t in tables:
        idx = m["tables"][t.name].get("index")
        if idx:
            index_columns = ",".join(idx.get("columns") or [])
    return IngestPlan(
        database=database or m["database"], tables=tables,
        units=[units[c] for c in sorted(units)] + replicated,
        chunk_order=int(m["chunk_order"]), subchunk_bits=int(m["subchunk_bits"]),
        overlap=float(m.get("overlap_deg", spec.overlap_deg)), replication=replication,
        dialect=dict(PARTITIONER_DIALECT), index_files=index_files,
        index_dialect={**PARTITIONER_DIALECT, **({"columns": index_columns} if index_columns else {})},
        expected={k: dict(v) for k, v in expected.items()}, source=str(path.resolve()),
        fingerprint=data_fingerprint(m))


# ---- the CLI -----------------------------------------------------------------------------
def ingest_command(config, source: str, *, database: str | None = None, replication: int = 1,
                   jobs_per_worker: int = 2, retries: int = 2, progress: bool = True,
                   echo=print, only: str | None = None, bundle_bytes: int = BUNDLE_BYTES) -> int:
    started = time.monotonic()
    try:
        plan = plan_from_manifest(source, database=database, replication=replication)
    except (IngestClientError, KeyError, ValueError) as e:
        echo(f"qserv ingest: {e}")
        return 1
    queue_seconds = time.monotonic() - started
    echo(f"ingest {plan.database}: {len(plan.tables)} tables, {len(plan.units)} transactions, "
         f"{plan.total_rows:,} rows (and {plan.overlap_rows:,} overlap rows), "
         f"{plan.total_bytes / 1e6:.1f} MB from {plan.source}")

    async def main():
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = IngestClient.for_config(config, session)
            return await run_ingest(client, plan, jobs_per_worker=jobs_per_worker, retries=retries,
                                    progress=progress, echo=echo, queue_seconds=queue_seconds,
                                    only=only, bundle_bytes=bundle_bytes)
    try:
        report = asyncio.run(main())
    except IngestClientError as e:
        echo(f"qserv ingest: {e}")
        return 1
    print_report(report, plan, time.monotonic() - started, echo)
    if only is not None:
        return 1 if report.failures else 0
    return 0 if report.ok else 1


def print_report(report: IngestReport, plan: IngestPlan, seconds: float, echo=print) -> None:
    echo(f"\n{'step':<10} {'seconds':>9}")
    for name in STEPS:
        if name in report.steps:
            echo(f"{name:<10} {report.steps[name]:>9.2f}")
    load = report.steps.get("load") or 0
    echo(f"{'total':<10} {seconds:>9.2f}")
    echo(f"\nloaded {report.units_loaded} units (chunks, replicated tables) in "
         f"{report.transactions} transactions ({report.units_skipped} units already committed, "
         f"{report.recovered} transactions left open by an earlier run aborted), {report.rows:,} rows "
         f"(and {report.overlap_rows:,} overlap rows), {report.bytes / 1e6:.1f} MB" + (f" at {report.bytes / 1e6 / load:.1f} MB/s, "
                                            f"{report.rows / load:,.0f} rows/s" if load else "")
         + f"; retries: {report.retries}")
    for f in report.failures:
        echo(f"FAILED {f}")
    if report.failures:
        echo(f"{plan.database} is not published; fix the cause and run the same command again "
             "(it resumes)")
    if report.validation is not None:
        v = report.validation
        echo(f"validate: {'OK' if v['ok'] else 'DIFFERENCES'} ({v['checks']} checks, "
             f"compared with the {v['compared_with']})"
             + "".join(f"\n  {d}" for d in v["differences"][:20]))
    if report.ok:
        echo(f"{plan.database} is published")


def status_command(config, database: str | None, echo=print) -> int:
    async def main():
        async with aiohttp.ClientSession() as session:
            client = IngestClient.for_config(config, session)
            if database is None:
                return await client.call("GET", "/ingest/database")
            return await client.call("GET", f"/ingest/database/{database}")
    try:
        answer = asyncio.run(main())
    except IngestClientError as e:
        echo(f"qserv ingest status: {e}")
        return 1
    if database is None:
        for d in answer["databases"]:
            echo(f"{d['database']:<24} {d['state']:<11} replication {d['replication']}")
        if not answer["databases"]:
            echo("no database registered for ingest")
        return 0
    d = answer["database"]
    echo(f"{d['database']}: {d['state']}, chunk_order {d['chunk_order']}, replication "
         f"{d['replication']}, tables {', '.join(t['table'] for t in d['tables'])}")
    echo("transactions: " + (", ".join(f"{s} {n}" for s, n in sorted(d["transactions"].items()))
                             or "none"))
    echo("contributions: " + (", ".join(f"{s} {v['count']} ({v['rows']:,} rows with overlap rows, "
                                         f"{v['bytes'] / 1e6:.1f} MB)"
                                         for s, v in sorted(d["contributions"].items())) or "none"))
    echo("committed rows: " + (", ".join(f"{t} {n:,}" for t, n in d["committed_rows"].items()) or "none")
         + "".join(f"; {t} overlap {n:,}" for t, n in d.get("committed_overlap_rows", {}).items()))
    echo("chunks per worker: " + (", ".join(f"{w} {n}" for w, n in sorted(d["chunks_per_worker"].items()))
                                  or "none"))
    retried = d["transactions"].get("ABORTED", 0)
    echo(f"aborted transactions (retried or recovered): {retried}")
    rank = {name: i for i, name in enumerate(STEPS)}
    for s in sorted(d["steps"], key=lambda s: rank.get(s["step"], len(STEPS))):   # run order
        sec = f"{s['seconds']:.2f} s" if s["seconds"] is not None else ""
        echo(f"  step {s['step']:<9} {s['state']:<8} {sec:>10}  {s['detail'] or ''}")
    for t in d["open_transactions"]:
        echo(f"  open transaction {t['id']} ({t['context']}): {t['state']} {t['error'] or ''}")
    return 0


def drop_command(config, database: str, echo=print) -> int:
    """`qserv drop DB`: delete a database (published or being ingested) on every worker and in the czar's metadata, over DELETE /ingest/database/DB."""
    async def main():
        async with aiohttp.ClientSession() as session:
            client = IngestClient.for_config(config, session)
            known = {d["database"] for d in
                     (await client.call("GET", "/ingest/database"))["databases"]}
            if database not in known and database not in await _catalog_databases(config):
                raise IngestClientError(f"no database {database!r} in the cluster")
            return await client.call("DELETE", f"/ingest/database/{database}")
    try:
        asyncio.run(main())
    except IngestClientError as e:
        echo(f"qserv drop: {e}")
        return 1
    echo(f"dropped {database}")
    return 0


async def _catalog_databases(config) -> set[str]:
    """The databases the czar serves (SHOW DATABASES over its MySQL port): a database
    whose ingest state was lost is still found and dropped."""
    def show() -> set[str]:
        import pymysql
        try:
            conn = pymysql.connect(host=config.host, port=config.frontend_port, user=config.user,
                                   password=config.password, connect_timeout=10)
        except pymysql.MySQLError as e:
            raise IngestClientError(f"cannot reach the czar on port {config.frontend_port}: {e}")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW DATABASES")
                return {r[0] for r in cur.fetchall()}
        finally:
            conn.close()
    return await asyncio.to_thread(show)


# ---- partition + ingest in one call (`qserv load`, the demo) -------------------------------
def partition_and_ingest(config, spec, *, out_dir: str | Path | None = None, jobs: int = 1,
                         show_progress: bool = True, replace: bool = True,
                         rejects: str | None = None, rejected: dict | None = None,
                         echo=print) -> dict[str, int]:
    """Partition the CSV files of `spec` (a DatabaseSpec) and ingest them; returns the rows per
    table. `replace`: an existing database of that name is deleted first (`qserv load`
    semantics). `rejects`: a file for the input rows that cannot be placed (instead of
    stopping at the first, with its file and line); `rejected` gets their count per table."""
    import shutil
    import tempfile

    from partitioner.run import Options, partition
    tmp = None
    if out_dir is None:
        tmp = out_dir = Path(tempfile.mkdtemp(prefix=f"qserv-load-{spec.name}-"))
    try:
        manifest = partition(spec, Options(out_dir=str(out_dir), jobs=jobs, progress=show_progress,
                                           force=True, rejects=rejects))
        if rejected is not None:
            rejected.update({t: int(e.get("rejected", 0)) for t, e in manifest["tables"].items()})
        plan = plan_from_manifest(out_dir)
        if tmp is not None:
            plan.origin = (f"qserv load of {spec.name} from {spec.source_dir} (partitioned into "
                           "a temporary directory, removed once loaded)")

        async def main():
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                client = IngestClient.for_config(config, session)
                if replace:
                    await client.call("DELETE", f"/ingest/database/{spec.name}")
                return await run_ingest(client, plan, progress=show_progress, echo=echo)
        report = asyncio.run(main())
        if not report.ok:
            message = ("; ".join(report.failures) or
                       f"validation: {report.validation and report.validation['differences'][:5]}")
            if tmp is not None:   # the chunk files are gone after this: name them by table
                message = message.replace(f"{tmp}/", "partitioned ")
            raise IngestClientError(message)
        return {t: e["rows"] - e.get("rejected", 0) for t, e in manifest["tables"].items()}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def load(config, spec, *, show_progress: bool = True, jobs: int = 1) -> dict[str, int]:
    """`qserv load` as a function: partition `spec` into a temporary directory and ingest it
    (replacing a database of that name); returns the rows per table. The one load path of
    the command line, the demo, the tests and the benchmarks."""
    return partition_and_ingest(config, spec, jobs=jobs, show_progress=show_progress,
                                echo=print if show_progress else (lambda *_: None))
