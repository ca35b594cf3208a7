"""The one typed configuration of a cluster: every port, path and size comes from here.

`qserv up` writes it as `DIR/qserv.json`; every daemon reads it back with `ClusterConfig.load`.
Environment variables `QSERV_<FIELD>` (e.g. `QSERV_FRONTEND_PORT`) override top-level fields,
which is how containers and tests adjust a config without editing files.

The secret fields (passwords and tokens, see `SECRET_FIELDS`) are kept apart in
`DIR/secrets.json`, and the client login in `DIR/my.cnf`, both mode 0600: the ports and sizes
may be read by anyone, the credentials only by the cluster's owner (qserv/credentials.py
generates them).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CONFIG_FILE = "qserv.json"
SECRETS_FILE = "secrets.json"
CLIENT_CNF = "my.cnf"
# Written to SECRETS_FILE, never to CONFIG_FILE.
SECRET_FIELDS = ("password", "users", "admin_token", "grpc_token", "mariadb_root_password",
                 "mariadb_reader_password")


@dataclass
class MariaDBSettings:
    """Memory and limits for each private mariadbd: small, so that 15 workers fit on 2 cores / 24 GB."""

    innodb_buffer_pool_size: str = "48M"
    key_buffer_size: str = "32M"
    aria_pagecache_buffer_size: str = "16M"
    max_connections: int = 200
    table_open_cache: int = 4000
    tmp_table_size: str = "64M"
    # Also the write cache of SELECT ... INTO OUTFILE (MariaDB sizes it from the global value):
    # workers send the file while MariaDB writes it, and with the default 128K the first
    # ~2.7k rows of each job sat in that cache while the client waited. MyISAM chunk scans
    # (which read through a cache of this size) measured no slower at 16K.
    read_buffer_size: str = "16K"
    # Largest statement (and row) a server accepts: the czar's own statements to it and the
    # workers' chunk statements stay far below (each chunk statement carries the client's
    # text once, and the client's text is at most ClusterConfig.max_allowed_packet).
    max_allowed_packet: str = "256M"


@dataclass
class WorkerConfig:
    """One worker: its gRPC daemon and its private MariaDB."""

    name: str
    grpc_port: int
    mariadb_port: int
    host: str = "127.0.0.1"
    # How the daemon reaches its MariaDB: False, its unix socket (the node starts both);
    # True, TCP at 127.0.0.1:mariadb_port: a MariaDB run apart (`qserv.admin.node mariadb
    # NAME`, another container of the same pod) that shares the worker's data directory,
    # where MariaDB writes the result files the daemon sends.
    mariadb_tcp: bool = False

    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"


@dataclass
class ClusterConfig:
    """A whole cluster: the czar, its MariaDB and the workers, rooted in one directory."""

    dir: str
    workers: list[WorkerConfig] = field(default_factory=list)
    host: str = "127.0.0.1"
    # Where this host's listening sockets bind (the czar's ports, a worker's gRPC port, the
    # MariaDB servers); "" binds each at its own `host`, as a local cluster does. In a container
    # or a pod `host` is a name others reach it by (a Service, a pod's DNS name), which is
    # not an address of the pod itself: there "0.0.0.0" (QSERV_BIND_HOST) binds every interface.
    bind_host: str = ""
    frontend_port: int = 4040
    # The HTTP API (ingest, /openapi.json): frontend_port + 8 by default (4048). Mutating
    # requests need `admin_token` (`Authorization: Bearer TOKEN` or `auth_key` in the JSON).
    http_port: int = 4048
    admin_token: str = ""
    # Largest JSON body the HTTP API reads (413 beyond); file contributions stream, unbounded.
    http_max_json_bytes: int = 32 << 20
    czar_mariadb_port: int = 13306
    # The MySQL login of the default user (`qserv up` generates the password unless asked
    # for none), and more users as {name: password}; a password may also be given as
    # MariaDB's hash ("*" + 40 hex digits, what PASSWORD('...') returns).
    user: str = "qsmaster"
    password: str = ""
    users: dict = field(default_factory=dict)
    # Internal credentials, generated per cluster: the token workers require on every gRPC
    # call, the root password of every private mariadbd (root may log in over its unix socket
    # only), and the password of the read-only account workers run chunk queries as.
    grpc_token: str = ""
    mariadb_root_password: str = ""
    mariadb_reader_password: str = ""
    # Optional TLS on the MySQL port and the HTTP API: PEM certificate (chain) and key files.
    tls_cert: str = ""
    tls_key: str = ""
    # Failed logins in a row from one address for one user before that address must wait
    # (1 s, doubling up to login_max_wait_s); an address gets 4x as many over all users.
    login_max_failures: int = 5
    login_max_wait_s: float = 60.0
    # The MySQL port's limits (MariaDB's variables): a login must end within connect_timeout
    # seconds; a client packet (a statement) may be at most max_allowed_packet bytes (1153).
    connect_timeout: float = 10.0
    max_allowed_packet: int = 16 << 20
    # The longest a statement may run, in seconds, everywhere (czar, workers, their MariaDB;
    # 1969 beyond; 0: no limit); a session may lower it (SET max_statement_time), not raise it.
    max_statement_time: float = 3600.0
    # Client sessions (MariaDB's names): at most max_connections at once (1040 beyond), the
    # last reserved_admin_connections of them only for admin_user (default: the default
    # user); at most max_user_connections per user (1203). Sessions share shadow_pool_size
    # connections to the czar's MariaDB (each borrows one per statement).
    max_connections: int = 500
    max_user_connections: int = 250
    reserved_admin_connections: int = 10
    admin_user: str = ""
    shadow_pool_size: int = 48
    # Moving rows (DESIGN §6), the sizes and counts that used to be constants in several
    # modules: the largest gRPC message either side accepts (workers' servers and every
    # client channel); bytes per message of an ingest contribution to a worker; bytes per
    # result message of a chunk query; the most text of chunk queries a worker joins into one
    # UNION ALL statement (a client's 10 MB literal is not multiplied past it); chunk
    # statements a worker runs at once; a worker's concurrent LOAD DATA and CREATE TABLE of
    # one bundle, and the largest bundle file it spools whole (bigger ones are piped).
    grpc_max_message_bytes: int = 64 << 20
    ingest_piece_bytes: int = 4 << 20
    result_batch_bytes: int = 4 << 20
    union_statement_bytes: int = 1 << 20
    worker_query_slots: int = 4
    worker_load_connections: int = 4
    worker_ddl_connections: int = 3
    worker_spool_max_bytes: int = 8 << 20
    # Dispatch: how many chunk jobs run at once per worker, and how many chunks go in one job.
    jobs_per_worker: int = 2
    # 64: measured on 1M Objects in 418 chunks, 4 workers: a full-scan GROUP BY at 0.85x one
    # MariaDB, against 1.27x with 16 (each job is one UNION ALL statement and one bulk load).
    chunks_per_job: int = 64
    # Largest merged result we keep for one query (rows); beyond it the query fails clearly.
    max_result_rows: int = 50_000_000
    # CPU priority (nice) of the workers' MariaDB servers on a local cluster: their scans take
    # the CPU the czar and the client leave, so rows keep flowing to the client while the
    # scans run (the czar forwards them; on a 2-core machine four scanning servers at the
    # same priority held a pymysql client to ~40% of a core). Idle CPU is still all theirs.
    worker_nice: int = 10
    # Whether the workers' MariaDB servers fsync their DDL (False: `--debug-no-sync`). Every
    # CREATE TABLE syncs MariaDB's DDL log four times, the .frm and the directory, one after
    # the other under the DDL log's lock, so one server creates tables at the speed of its
    # disk's sync (~3 ms a table on this VM's virtio disk: 17,400 tables of a 5,800-chunk
    # catalog were most of its ingest). The syncs buy DDL atomicity after an OS crash, which
    # a worker cannot use: its chunk tables are MyISAM, whose rows are never synced, so
    # after a crash the ingest's validate step (row counts against the manifest) decides and
    # a chunk is reloaded anyway. The czar's MariaDB (metadata, InnoDB) always syncs.
    worker_mariadb_sync: bool = False
    # Tables a worker's MariaDB keeps open while ingest calls run on it (then back to
    # mariadb.table_open_cache, which queries want: a scan whose chunk tables stay cached
    # opens none). MyISAM walks its whole list of open tables at every table open and
    # CREATE, so an ingest of thousands of small chunks spent a quarter of the servers' CPU
    # there with 4,000 cached and took ~1.5x as long (worker/table_cache.py,
    # benchmarks/bench_table_cache.py). 0: leave the cache alone.
    ingest_table_open_cache: int = 400
    # How often the czar and the workers remove what killed queries left behind (result
    # tables, spool files, outfiles: czar/leftovers.py, worker/leftovers.py); also at start.
    cleanup_interval_s: float = 60.0
    # Copies of each chunk an ingest makes when it is not told (`qserv ingest --replication`);
    # the Kubernetes operator also refuses a scale-down that would remove the last copy.
    replication: int = 1
    # Workers register with the czar (name, address, health; czar/membership.py) at start and
    # then this often, so workers are added to a running czar; 0: they do not register.
    register_interval_s: float = 30.0
    # Async queries (czar/registry.py, czar/async_queries.py): a finished query's result is
    # kept this long (the original keeps them an hour), then its table and files are deleted
    # and the query reads as EXPIRED; each user runs at most async_max_running queries at
    # once (more wait QUEUED); a result over async_max_result_bytes fails the query
    # (FAILED_LR); one query runs at most async_max_execution_s (0: no cap); a user's stored
    # results may hold at most async_user_result_bytes (0: no cap) before SUBMIT is refused;
    # a query the czar was running when it died is run again at most async_max_attempts times.
    async_result_ttl_s: float = 3600.0
    async_max_running: int = 2
    async_max_result_bytes: int = 4 << 30
    async_max_execution_s: float = 0.0
    async_user_result_bytes: int = 0
    async_max_attempts: int = 3
    async_sweep_interval_s: float = 10.0
    mariadb: MariaDBSettings = field(default_factory=MariaDBSettings)

    # ---- derived paths -------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.dir)

    def instance_dir(self, name: str) -> Path:
        return self.root / name

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def listen_host(self, host: str) -> str:
        """The address a socket announced as `host` binds to (see `bind_host`)."""
        return self.bind_host or host

    def worker(self, name: str) -> WorkerConfig:
        for w in self.workers:
            if w.name == name:
                return w
        raise KeyError(f"no worker named {name!r} in {self.root / CONFIG_FILE}")

    # ---- construction / persistence ------------------------------------------------------
    @classmethod
    def create(cls, dir: str | Path, n_workers: int, *, frontend_port: int = 4040,
               base_port: int = 13306, **kw) -> "ClusterConfig":
        """A fresh local-cluster config: ports counted up from `base_port`."""
        workers = [
            WorkerConfig(name=f"worker{i}", mariadb_port=base_port + 1 + i,
                         grpc_port=base_port + 101 + i)
            for i in range(n_workers)
        ]
        kw.setdefault("http_port", frontend_port + 8)
        kw.setdefault("admin_token", secrets.token_hex(16))
        if kw.get("password") is None:  # None: generate one; "" means no password
            kw["password"] = secrets.token_urlsafe(12)
        cfg = cls(dir=str(Path(dir).resolve()), workers=workers, frontend_port=frontend_port,
                  czar_mariadb_port=base_port, **kw)
        cfg.fill_internal_secrets()
        cfg._apply_env()   # as its daemons will see it (they load it with the same environment)
        return cfg

    def fill_internal_secrets(self) -> bool:
        """Generate the internal credentials still missing (a config written before they
        existed gets them at its next `qserv up`); True when any was added."""
        added = False
        for name in ("grpc_token", "mariadb_root_password", "mariadb_reader_password"):
            if not getattr(self, name):
                setattr(self, name, secrets.token_urlsafe(24))
                added = True
        return added

    def save(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        values = asdict(self)
        private = {name: values.pop(name) for name in SECRET_FIELDS}
        path = self.root / CONFIG_FILE
        path.write_text(json.dumps(values, indent=2) + "\n")
        write_private(self.root / SECRETS_FILE, json.dumps(private, indent=2) + "\n")
        write_private(self.root / CLIENT_CNF, self.client_cnf())
        return path

    def client_cnf(self) -> str:
        """A MySQL option file for the default user: `mariadb --defaults-extra-file=DIR/my.cnf`,
        `pymysql.connect(read_default_file=...)`."""
        lines = ["[client]", f"host={self.host}", f"port={self.frontend_port}", f"user={self.user}"]
        if self.password:
            lines.append(f"password={self.password}")
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, dir_or_file: str | Path) -> "ClusterConfig":
        path = Path(dir_or_file)
        if path.is_dir():
            path = path / CONFIG_FILE
        if not path.exists():
            raise FileNotFoundError(f"no cluster config at {path} (run `qserv up` first)")
        raw = json.loads(path.read_text())
        private = path.parent / SECRETS_FILE
        if private.exists():
            raw.update(json.loads(private.read_text()))
        raw["workers"] = [WorkerConfig(**w) for w in raw.get("workers", [])]
        raw["mariadb"] = MariaDBSettings(**raw.get("mariadb", {}))
        cfg = cls(**raw)
        cfg._apply_env()
        return cfg

    def _apply_env(self) -> None:
        for f in fields(self):
            value = os.environ.get(f"QSERV_{f.name.upper()}")
            if value is None or f.name in ("workers", "mariadb"):
                continue
            current = getattr(self, f.name)
            if isinstance(current, dict):
                setattr(self, f.name, json.loads(value))
            elif isinstance(current, bool):   # bool("0") is True: read the words
                word = value.strip().lower()
                if word not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                    raise ValueError(f"QSERV_{f.name.upper()}={value!r}: not a boolean "
                                     "(1/0, true/false, yes/no, on/off)")
                setattr(self, f.name, word in ("1", "true", "yes", "on"))
            else:
                setattr(self, f.name, type(current)(value) if current is not None else value)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (created 0600: never readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have had wider rights
    with os.fdopen(fd, "w") as f:
        f.write(text)
