"""Private `mariadbd` instances: one per worker and one for the czar, each with its own
datadir, socket and port, started with `--no-defaults` so the system my.cnf never leaks in.

Also the small helpers every component uses to talk to such an instance.

Accounts: a cluster's servers (`for_czar`, `for_worker`) have one root, `root@localhost`,
with the cluster's generated password, reachable over the unix socket only (the TCP root
accounts mariadb-install-db creates are dropped), and workers' servers the read-only account
`READER_USER` that chunk queries run as. Both are (re)applied at every start through
`--init-file`, which MariaDB runs before it accepts any connection, so a datadir created
without them (or by an older version) is secured by its next start.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import pymysql

from qserv.config import ClusterConfig, MariaDBSettings, write_private

# Workers run chunk queries as this account: SELECT (and EXECUTE, for the scisql stored
# functions) on the user databases it is granted, FILE for `SELECT ... INTO OUTFILE` (which
# secure_file_priv confines to the outfile directory); no right to write anything.
READER_USER = "qsreader"


class MariaDBNotInstalled(RuntimeError):
    pass


def find_binary(*names: str) -> str:
    """The first of `names` on PATH or in the usual sbin dirs (mariadbd lives in /usr/sbin)."""
    extra = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(extra)
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise MariaDBNotInstalled(
        f"none of {', '.join(names)} found: install MariaDB with "
        "`apt-get update && apt-get install -y mariadb-server mariadb-client`")


@dataclass
class MariaDBServer:
    """One private mariadbd under `base_dir` (datadir `data/`, socket, error log, outfile dir)."""

    base_dir: Path
    port: int
    settings: MariaDBSettings
    host: str = "127.0.0.1"
    nice: int = 0  # CPU priority of every thread of the server (see ClusterConfig.worker_nice)
    # "" (stand-alone servers: tests' oracle, benchmarks' baseline): root as mariadb-install-db
    # leaves it, without a password. Otherwise the accounts described in the module docstring.
    root_password: str = ""
    reader_password: str = ""  # creates READER_USER when set
    # Clients connect over TCP at 127.0.0.1 instead of the socket (WorkerConfig.mariadb_tcp):
    # the accounts then also exist for 127.0.0.1, and the server listens there.
    tcp: bool = False
    # False: `--debug-no-sync` (MariaDB's my_sync becomes a no-op: DDL log, .frm, directory;
    # see ClusterConfig.worker_mariadb_sync for why workers run so).
    sync: bool = True

    @classmethod
    def for_czar(cls, config: ClusterConfig) -> "MariaDBServer":
        return cls(config.instance_dir("czar"), config.czar_mariadb_port, config.mariadb,
                   host=config.listen_host(config.host), root_password=config.mariadb_root_password)

    @classmethod
    def for_worker(cls, config: ClusterConfig, name: str) -> "MariaDBServer":
        w = config.worker(name)
        host = config.listen_host(w.host)
        if w.mariadb_tcp and host not in ("0.0.0.0", "::"):
            host = "127.0.0.1"   # its clients are on this host (pod): loopback only
        return cls(config.instance_dir(name), w.mariadb_port, config.mariadb,
                   host=host, nice=config.worker_nice,
                   root_password=config.mariadb_root_password,
                   reader_password=config.mariadb_reader_password, tcp=w.mariadb_tcp,
                   sync=config.worker_mariadb_sync)

    def client_args(self) -> dict:
        """Where clients connect: the unix socket, or 127.0.0.1:port (`tcp`)."""
        return {"host": "127.0.0.1", "port": self.port} if self.tcp else {"unix_socket": self.socket}

    @property
    def datadir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket(self) -> str:
        return str(self.base_dir / "mysqld.sock")

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "mysqld.pid"

    @property
    def error_log(self) -> Path:
        return self.base_dir / "error.log"

    @property
    def tmp_dir(self) -> Path:
        """The instance's own tmpdir: bootstraps and temp tables of different instances (and of
        other users of /tmp) never collide."""
        return self.base_dir / "tmp"

    @property
    def init_file(self) -> Path:
        return self.base_dir / "accounts.sql"

    @property
    def outfile_dir(self) -> Path:
        """Where `SELECT ... INTO OUTFILE` may write (secure_file_priv)."""
        return self.base_dir / "outfiles"

    def initialize(self) -> None:
        """Create the system tables once; a no-op when the datadir already exists."""
        if (self.datadir / "mysql").exists():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.outfile_dir.mkdir(exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        install = find_binary("mariadb-install-db", "mysql_install_db")
        res = subprocess.run(
            [install, "--no-defaults", f"--datadir={self.datadir}", f"--tmpdir={self.tmp_dir}",
             *user_option(),
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed for {self.base_dir}:\n{res.stderr[-2000:]}")

    def command(self) -> list[str]:
        s = self.settings
        return [
            find_binary("mariadbd", "mysqld"), "--no-defaults", *user_option(),
            f"--datadir={self.datadir}", f"--socket={self.socket}", f"--port={self.port}",
            f"--bind-address={self.host}", f"--pid-file={self.pid_file}",
            f"--log-error={self.error_log}", f"--secure-file-priv={self.outfile_dir}",
            f"--tmpdir={self.tmp_dir}",
            "--local-infile=1", "--skip-name-resolve", "--performance-schema=OFF",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            f"--innodb-buffer-pool-size={s.innodb_buffer_pool_size}",
            "--innodb-log-file-size=32M", "--innodb-flush-log-at-trx-commit=2",
            f"--key-buffer-size={s.key_buffer_size}",
            f"--aria-pagecache-buffer-size={s.aria_pagecache_buffer_size}",
            f"--max-connections={s.max_connections}", f"--table-open-cache={s.table_open_cache}",
            f"--tmp-table-size={s.tmp_table_size}", f"--max-heap-table-size={s.tmp_table_size}",
            f"--read-buffer-size={s.read_buffer_size}",
            f"--max-allowed-packet={s.max_allowed_packet}", "--skip-log-bin",
            *([] if self.sync else ["--debug-no-sync"]),
        ]

    def accounts_sql(self) -> str:
        """The account statements of the module docstring (idempotent: run at every start)."""
        if not self.root_password:
            return ""
        stmts = [
            # every root but root@localhost (127.0.0.1, ::1, the host name) and anonymous users
            "DELETE FROM mysql.global_priv WHERE (User = 'root' AND Host <> 'localhost') OR User = ''",
            "FLUSH PRIVILEGES",
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY {sql_string(self.root_password)}",
        ]
        if self.tcp:   # the same root from 127.0.0.1 (a daemon in another container of the pod)
            stmts += ["CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
                      f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {sql_string(self.root_password)}",
                      "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"]
        hosts = ["localhost"] + (["127.0.0.1"] if self.tcp else [])
        if self.reader_password:
            for h in hosts:
                stmts += [f"CREATE USER IF NOT EXISTS '{READER_USER}'@'{h}'",
                          f"ALTER USER '{READER_USER}'@'{h}' IDENTIFIED BY "
                          f"{sql_string(self.reader_password)}",
                          f"GRANT FILE ON *.* TO '{READER_USER}'@'{h}'"]
        return "".join(f"{s};\n" for s in stmts)

    def start(self, log) -> subprocess.Popen:
        """Start in the background (own session, so it survives the CLI) and wait until it answers."""
        self.initialize()
        self.outfile_dir.mkdir(exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        command = self.command()
        accounts = self.accounts_sql()
        if accounts:   # holds passwords: private, and removed once the server has read it
            write_private(self.init_file, accounts)
            command.append(f"--init-file={self.init_file}")
        if self.nice:  # every thread inherits it from the first
            command = [find_binary("nice"), "-n", str(self.nice), *command]
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        if self.nice:
            set_session_nice(proc.pid, self.nice)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"mariadbd for {self.base_dir} exited with {proc.returncode}; "
                                       f"see {self.error_log}")
                if self.ping():
                    return proc
                time.sleep(0.1)
        finally:
            self.init_file.unlink(missing_ok=True)
        raise TimeoutError(f"mariadbd for {self.base_dir} did not answer within 60 s; see {self.error_log}")

    def ping(self) -> bool:
        try:
            conn = self.connect(connect_timeout=1)
        except pymysql.MySQLError:
            return False
        conn.close()
        return True

    def connect(self, database: str | None = None, **kw) -> pymysql.connections.Connection:
        """A root connection over the unix socket (the instance is private to its daemon), or
        over TCP from this host (`tcp`)."""
        return pymysql.connect(**self.client_args(), user="root", password=self.root_password,
                               database=database,
                               autocommit=True, local_infile=True, charset="utf8mb4", **kw)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (clean shutdown), then SIGKILL if it lingers."""
        pid = read_pid(self.pid_file)
        if pid is None:
            return
        stop_pid(pid, timeout)


def sql_string(value: str) -> str:
    """A MariaDB string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def user_option() -> list[str]:
    """`--user` for mariadbd and mariadb-install-db: the user we run as. Root must say so (the
    server refuses to run as root otherwise); any other user (a container's non-root user)
    cannot switch users, and mariadb-install-db would try to chown the datadir to root."""
    if os.geteuid() == 0:
        return ["--user=root"]
    try:
        return [f"--user={pwd.getpwuid(os.geteuid()).pw_name}"]
    except KeyError:   # an arbitrary uid without a passwd entry (some Kubernetes platforms)
        return []


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def pid_alive(pid: int | None) -> TypeGuard[int]:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_pid(pid: int, timeout: float = 30) -> None:
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def set_session_nice(pid: int, nice: int) -> None:
    """Give the scheduling group of `pid`'s session the priority `nice`.

    Why: with autogroup scheduling (Linux's default where enabled), each session is one group
    and the CPU is shared between groups first; a thread's own nice value only ranks it within
    its group. Our servers run in sessions of their own, so their nice counts only through
    this. Without autogroup the file is missing or ignored, and the threads' nice applies."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        pass
