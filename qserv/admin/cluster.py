"""A local cluster: the czar's mariadbd, N worker mariadbds, N worker daemons and the czar,
all on 127.0.0.1 with their own ports, under one directory (DESIGN §8), and a supervisor
that restarts whichever of them crashes (qserv/admin/supervisor.py).

The processes are "components", named as `qserv status` shows them: `czar-mariadb`,
`workerN-mariadb`, `workerN`, `czar`. `up` starts the components that do not run (all of
them on a fresh cluster), so it also repairs a partly running one; `down` stops the
supervisor first (else it would restart what `down` stops), then daemons, then MariaDB
servers, then any process still running from the cluster's directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer, pid_alive, read_pid, stop_pid
from qserv.metadata import MetadataStore
from qserv import workers as wk

SUPERVISOR = "supervisor"
SUPERVISOR_STATE = "supervisor.json"   # in the run directory: restarts, written by the supervisor


class ClusterError(RuntimeError):
    pass


def czar_mariadb(config: ClusterConfig) -> MariaDBServer:
    return MariaDBServer.for_czar(config)


def worker_mariadb(config: ClusterConfig, name: str) -> MariaDBServer:
    return MariaDBServer.for_worker(config, name)


def all_mariadb(config: ClusterConfig) -> dict[str, MariaDBServer]:
    out = {"czar-mariadb": czar_mariadb(config)}
    out.update({f"{w.name}-mariadb": worker_mariadb(config, w.name) for w in config.workers})
    return out


def daemon_names(config: ClusterConfig) -> list[str]:
    return [w.name for w in config.workers] + ["czar"]


def component_names(config: ClusterConfig) -> list[str]:
    """Every process of the cluster but the supervisor, in start order (a component's
    dependencies come before it)."""
    return list(all_mariadb(config)) + daemon_names(config)


def component_pid(config: ClusterConfig, name: str) -> int | None:
    dbs = all_mariadb(config)
    return read_pid(dbs[name].pid_file if name in dbs else config.pid_file(name))


def component_running(config: ClusterConfig, name: str) -> bool:
    return pid_alive(component_pid(config, name))


def component_ports(config: ClusterConfig, name: str) -> list[int]:
    dbs = all_mariadb(config)
    if name in dbs:
        return [dbs[name].port]
    if name == "czar":
        return [config.frontend_port, config.http_port]
    return [config.worker(name).grpc_port]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def running_daemons(config: ClusterConfig) -> list[str]:
    return [n for n in daemon_names(config) if pid_alive(read_pid(config.pid_file(n)))]


def _log(config: ClusterConfig, name: str):
    config.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    return open(config.log_file(name), "ab")


def _spawn(config: ClusterConfig, name: str, args: list[str]) -> subprocess.Popen:
    config.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with _log(config, name) as log:
        proc = subprocess.Popen([sys.executable, "-m", *args, "--config", str(config.root)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    config.pid_file(name).write_text(str(proc.pid))
    return proc


def _wait_port(config: ClusterConfig, name: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(config.host, port):
            return
        if not pid_alive(read_pid(config.pid_file(name))):
            raise ClusterError(f"{name} exited during start-up; see {config.log_file(name)}")
        time.sleep(0.1)
    raise ClusterError(f"{name} did not listen on port {port} within {timeout} s; see {config.log_file(name)}")


def start_component(config: ClusterConfig, name: str, wait: bool = True) -> subprocess.Popen:
    """Start one component; with `wait`, return once it answers (MariaDB: a ping; daemons:
    their ports listen). Raises ClusterError (or the server's error) when it does not."""
    dbs = all_mariadb(config)
    if name in dbs:
        with _log(config, name) as log:
            proc = dbs[name].start(log)
        if name == "czar-mariadb":   # idempotent: a fresh datadir gets the metadata schema
            conn = dbs[name].connect()
            try:
                MetadataStore(conn).initialize()
            finally:
                conn.close()
        return proc
    args = ["czar"] if name == "czar" else ["worker", "--name", name]
    proc = _spawn(config, name, args)
    if wait:
        for port in component_ports(config, name):
            _wait_port(config, name, port)
    return proc


@contextlib.contextmanager
def start_lock(config: ClusterConfig):
    """Held while components are started: `qserv up` and the supervisor never start the
    same component twice at once."""
    path = config.pid_file("start.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def supervisor_pid(config: ClusterConfig) -> int | None:
    return read_pid(config.pid_file(SUPERVISOR))


def _busy_ports(config: ClusterConfig, names: list[str], settle_s: float = 5.0) -> dict:
    """The ports of `names` that something listens on, after waiting up to `settle_s` for
    them to free: a component that was just killed may still be closing its sockets."""
    deadline = time.monotonic() + settle_s
    while True:
        busy = {n: [p for p in component_ports(config, n) if port_open(config.host, p)]
                for n in names}
        busy = {n: ports for n, ports in busy.items() if ports}
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.2)


def up(config: ClusterConfig, echo=print, supervise: bool = False) -> list[str]:
    """Start every component that does not run (all of them on a stopped cluster), and the
    supervisor when `supervise`; returns the names started. A port that something else
    holds stops it before anything starts."""
    with start_lock(config):
        names = component_names(config)
        missing = [n for n in names if not component_running(config, n)]
        busy = _busy_ports(config, missing)
        if busy:
            raise ClusterError("ports already in use: " + "; ".join(
                f"{n}'s {ports}" for n, ports in busy.items())
                + " (another cluster? pick --port/--base-port)")
        if len(missing) == len(names):   # a stopped cluster: the config may be new
            config.fill_internal_secrets()  # a cluster made before they existed
            config.save()
            config.pid_file(SUPERVISOR_STATE).unlink(missing_ok=True)   # an earlier run's
        elif missing:
            echo(f"already running: {', '.join(n for n in names if n not in missing)}")
        daemons = set(daemon_names(config))
        for name in [n for n in missing if n not in daemons]:
            echo(f"starting {name} on port {component_ports(config, name)[0]}")
            start_component(config, name)
        workers = [n for n in missing if n in daemons and n != "czar"]
        for name in workers:
            start_component(config, name, wait=False)
        for name in workers:
            _wait_port(config, name, config.worker(name).grpc_port)
        if workers:
            echo(f"started worker daemons {', '.join(workers)}")
        if "czar" in missing:
            start_component(config, "czar")
            echo(f"czar listening on {config.host}:{config.frontend_port} "
                 f"(HTTP API on {config.http_port})")
        started = list(missing)
        if supervise and not pid_alive(supervisor_pid(config)):
            _spawn(config, SUPERVISOR, ["qserv.admin.supervisor"])
            echo("supervisor started: it restarts crashed processes")
            started.append(SUPERVISOR)
        if not started:
            echo(f"the cluster in {config.root} already runs: nothing to start")
        return started


def down(config: ClusterConfig, echo=print) -> None:
    """Stop the supervisor, the daemons (they hold MariaDB connections), every mariadbd, and
    then anything still running from the cluster's directory."""
    pid = supervisor_pid(config)
    if pid_alive(pid):
        echo(f"stopping {SUPERVISOR} (pid {pid})")
        stop_pid(pid, timeout=90)   # it finishes a start in progress, then exits
    config.pid_file(SUPERVISOR).unlink(missing_ok=True)
    for name in ["czar"] + [w.name for w in config.workers]:
        pid = read_pid(config.pid_file(name))
        if pid_alive(pid):
            echo(f"stopping {name} (pid {pid})")
            stop_pid(pid, timeout=10)
        config.pid_file(name).unlink(missing_ok=True)
    for name, db in all_mariadb(config).items():
        pid = read_pid(db.pid_file)
        if pid_alive(pid):
            echo(f"stopping {name} (pid {pid})")
            stop_pid(pid, timeout=60)
    for pid in cluster_processes(config):
        echo(f"stopping pid {pid} (still running from {config.root})")
        stop_pid(pid, timeout=10)


def cluster_processes(config: ClusterConfig) -> list[int]:
    """Processes started for this cluster (by their command lines: `--config ROOT`, a
    datadir under ROOT), whatever their pid files say."""
    root = str(config.root)
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in raw]
        ours = any(a == "--config" and b == root for a, b in zip(args, args[1:])) or \
            any(a.startswith(f"--datadir={root}/") for a in args)
        if ours and pid_alive(int(entry.name)):
            out.append(int(entry.name))
    return out


@dataclass
class ComponentStatus:
    name: str
    state: str      # "up", "down", "crashed", "unhealthy"; the supervisor also "off"
    detail: str = ""


def supervisor_state(config: ClusterConfig) -> dict:
    try:
        return json.loads(config.pid_file(SUPERVISOR_STATE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _restarts(state: dict, name: str) -> str:
    """What the supervisor did for `name`, for `qserv status`."""
    s = state.get("components", {}).get(name)
    if not s:
        return ""
    parts = []
    if s.get("restarts"):
        parts.append(f"restarted {s['restarts']}x by the supervisor, last at "
                     f"{_clock(s['last_restart'])} (crash seen at {_clock(s['last_crash'])})")
    if s.get("next_try"):
        parts.append(f"next restart at {_clock(s['next_try'])}")
    if s.get("last_error"):
        parts.append(f"last restart failed: {s['last_error']}")
    return "; ".join(parts)


def status(config: ClusterConfig) -> list[ComponentStatus]:
    state = supervisor_state(config)
    out = []
    for name, db in all_mariadb(config).items():
        pid = read_pid(db.pid_file)
        if pid_alive(pid):
            out.append(ComponentStatus(name, "up" if db.ping() else "unhealthy", f"pid {pid}, port {db.port}"))
        else:
            out.append(ComponentStatus(name, "crashed" if pid else "down", f"port {db.port}"))
    for w in config.workers:
        pid = read_pid(config.pid_file(w.name))
        if not pid_alive(pid):
            out.append(ComponentStatus(w.name, "crashed" if pid else "down",
                                       f"see {config.log_file(w.name)}" if pid else ""))
            continue
        h = wk.health(w, config.grpc_token)
        if h is None:
            out.append(ComponentStatus(w.name, "unhealthy", f"pid {pid}, gRPC {w.grpc_port} not answering"))
        else:
            state_ = "up" if h.mariadb_ok else "unhealthy"
            out.append(ComponentStatus(w.name, state_, f"pid {pid}, gRPC {w.grpc_port}, "
                                                       f"{h.running_jobs} running jobs {h.error}".strip()))
    pid = read_pid(config.pid_file("czar"))
    if pid_alive(pid):
        state_ = "up" if port_open(config.host, config.frontend_port) else "unhealthy"
        out.append(ComponentStatus("czar", state_, f"pid {pid}, MySQL port {config.frontend_port}"))
    else:
        out.append(ComponentStatus("czar", "crashed" if pid else "down",
                                   f"see {config.log_file('czar')}" if pid else ""))
    for s in out:
        restarts = _restarts(state, s.name)
        if restarts:
            s.detail = f"{s.detail}; {restarts}" if s.detail else restarts
    pid = supervisor_pid(config)
    if pid_alive(pid):
        out.append(ComponentStatus(SUPERVISOR, "up", f"pid {pid}, restarts crashed processes"))
    elif pid:
        out.append(ComponentStatus(SUPERVISOR, "crashed", f"see {config.log_file(SUPERVISOR)}; "
                                                          "`qserv up` starts it again"))
    else:
        out.append(ComponentStatus(SUPERVISOR, "off", "nothing restarts crashed processes "
                                                      "(`qserv up` starts it)"))
    return out


def table_sizes(config: ClusterConfig) -> dict[str, list[tuple[str, int, int]]]:
    """database -> [(table, rows, bytes)] of the published databases, as recorded at publish
    (qservMeta.table_stats; `POST /ingest/database/DB/stats` counts again); {} when the
    czar's MariaDB is not up."""
    from qserv.metadata import META_DB
    try:
        conn = MariaDBServer.for_czar(config).connect()
    except Exception:    # down, or not initialised: status says so above
        return {}
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT s.db, s.tbl, s.`rows`, s.data_bytes + s.index_bytes FROM "
                        f"{META_DB}.table_stats s JOIN {META_DB}.dbs d ON d.name = s.db "
                        "WHERE d.published = 1 ORDER BY s.db, s.tbl")
            out: dict[str, list[tuple[str, int, int]]] = {}
            for db, table, rows, size in cur.fetchall():
                out.setdefault(db, []).append((table, int(rows), int(size)))
            return out
    except Exception:
        return {}
    finally:
        conn.close()
