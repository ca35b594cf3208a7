"""Workers joining a running czar: the registry of workers in the czar's MariaDB
(`qservMeta.workers`: name, address, health, when first and last seen).

A worker daemon registers at start and then every `register_interval_s` (worker/register.py):
`POST /workers` on the czar's HTTP API with its name, host and ports and whether its MariaDB
answers. A worker the czar did not know is added to the running czar's config (the list
every part of the czar reads: dispatch, ingest) and gets a gRPC channel at once, so workers
are added without restarting the czar; a known worker whose address changed gets a new
channel. At start the czar adds the registered workers to those of its config file, so a
restart keeps them. `GET /workers` lists the registry. `DELETE /workers/NAME` removes a
worker that left for good (the Kubernetes operator calls it after a scale-down): refused
(409) while it holds the only copy of a chunk.

A worker's registration is authenticated with the cluster's admin token (workers have it
from the same secrets.json as the czar).
"""

from __future__ import annotations

import re
import time

from czar.ingest import IngestError
from qserv.config import ClusterConfig, WorkerConfig
from qserv.metadata import META_DB

WORKER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class MembershipError(ValueError):
    pass


def parse_registration(body: dict) -> tuple[WorkerConfig, bool, str]:
    """A registration request → (the worker, healthy, detail); MembershipError if malformed."""
    name, host = body.get("name"), body.get("host")
    if not isinstance(name, str) or not WORKER_NAME.match(name):
        raise MembershipError(f"name must be 1-64 letters, digits, '_', '.', '-' (not {name!r})")
    if not isinstance(host, str) or not host or len(host) > 255 or any(c.isspace() for c in host):
        raise MembershipError(f"host must be a host name or address (not {host!r})")
    ports = []
    for key in ("grpc_port", "mariadb_port"):
        value = body.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise MembershipError(f"{key} must be a port number (not {value!r})")
        ports.append(value)
    worker = WorkerConfig(name=name, grpc_port=ports[0], mariadb_port=ports[1], host=host)
    return worker, bool(body.get("healthy", True)), str(body.get("detail", ""))[:1024]


class Membership:
    """The registry, and the live config it keeps up to date. `on_change(worker)` is called
    for a worker that is new or moved (the dispatcher opens its channel)."""

    def __init__(self, config: ClusterConfig, run_sql, on_change=None):
        self.config = config
        self.sql = run_sql             # async (sql, args) -> rows, on the czar's MariaDB
        self.on_change = on_change

    async def load(self) -> list[str]:
        """Add the registered workers the config does not list; returns their names."""
        added = []
        for name, host, grpc_port, mariadb_port in await self.sql(
                f"SELECT name, host, grpc_port, mariadb_port FROM {META_DB}.workers ORDER BY name"):
            if self._merge(WorkerConfig(name=name, grpc_port=grpc_port, mariadb_port=mariadb_port,
                                        host=host)):
                added.append(name)
        return added

    def _merge(self, worker: WorkerConfig) -> bool:
        """Make the live config hold `worker`; True when it was new or moved."""
        for i, known in enumerate(self.config.workers):
            if known.name == worker.name:
                if (known.host, known.grpc_port, known.mariadb_port) == \
                        (worker.host, worker.grpc_port, worker.mariadb_port):
                    return False
                self.config.workers[i] = worker
                break
        else:
            self.config.workers.append(worker)
        if self.on_change is not None:
            self.on_change(worker)
        return True

    async def register(self, body: dict) -> dict:
        worker, healthy, detail = parse_registration(body)
        now = time.time()
        await self.sql(
            f"INSERT INTO {META_DB}.workers VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE host = VALUES(host), grpc_port = VALUES(grpc_port), "
            "mariadb_port = VALUES(mariadb_port), last_seen = VALUES(last_seen), "
            "healthy = VALUES(healthy), detail = VALUES(detail)",
            (worker.name, worker.host, worker.grpc_port, worker.mariadb_port, now, now,
             int(healthy), detail))
        joined = self._merge(worker)
        return {"worker": worker.name, "joined": joined, "workers": len(self.config.workers)}

    async def deregister(self, name: str) -> dict:
        known = {w.name for w in self.config.workers}
        registered = await self.sql(f"SELECT name FROM {META_DB}.workers WHERE name = %s", (name,))
        if name not in known and not registered:
            raise IngestError(f"no worker named {name!r}", 404)
        only = await self.sql(
            f"SELECT db, chunk_id FROM {META_DB}.chunks GROUP BY db, chunk_id "
            "HAVING SUM(worker <> %s) = 0 ORDER BY db, chunk_id", (name,))
        if only:
            shown = ", ".join(f"{db}:{chunk}" for db, chunk in only[:20])
            raise IngestError(f"worker {name} holds the only copy of {len(only)} chunks ({shown}"
                              f"{' ...' if len(only) > 20 else ''}): replicate them first", 409)
        await self.sql(f"DELETE FROM {META_DB}.workers WHERE name = %s", (name,))
        self.config.workers[:] = [w for w in self.config.workers if w.name != name]
        return {"worker": name, "removed": True, "workers": len(self.config.workers)}

    async def list(self) -> dict:
        rows = await self.sql(f"SELECT name, host, grpc_port, mariadb_port, first_seen, last_seen, "
                              f"healthy, detail FROM {META_DB}.workers ORDER BY name")
        registered = {r[0]: r for r in rows}
        now = time.time()
        out = []
        for w in self.config.workers:   # every worker the czar uses, registered or from the file
            r = registered.get(w.name)
            out.append({"name": w.name, "host": w.host, "grpc_port": w.grpc_port,
                        "mariadb_port": w.mariadb_port, "registered": r is not None,
                        "healthy": bool(r[6]) if r else None, "detail": r[7] if r else "",
                        "seconds_since_seen": round(now - r[5], 1) if r else None})
        return {"workers": out}
