"""A local cluster: the czar's mariadbd, N worker mariadbds, N worker daemons and the czar,
all on 127.0.0.1 with their own ports, under one directory (DESIGN §8)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer, pid_alive, read_pid, stop_pid
from qserv.metadata import MetadataStore
from qserv import workers as wk


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


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def running_daemons(config: ClusterConfig) -> list[str]:
    return [n for n in daemon_names(config) if pid_alive(read_pid(config.pid_file(n)))]


def _spawn(config: ClusterConfig, name: str, args: list[str]) -> None:
    config.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    config.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    log = open(config.log_file(name), "ab")
    proc = subprocess.Popen([sys.executable, "-m", *args, "--config", str(config.root)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    config.pid_file(name).write_text(str(proc.pid))


def _wait_port(config: ClusterConfig, name: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(config.host, port):
            return
        if not pid_alive(read_pid(config.pid_file(name))):
            raise ClusterError(f"{name} exited during start-up; see {config.log_file(name)}")
        time.sleep(0.1)
    raise ClusterError(f"{name} did not listen on port {port} within {timeout} s; see {config.log_file(name)}")


def up(config: ClusterConfig, echo=print) -> None:
    """Start everything; refuse when the cluster (or something on its ports) already runs."""
    if running_daemons(config):
        raise ClusterError(f"the cluster in {config.root} is already running "
                           f"({', '.join(running_daemons(config))}); `qserv status` shows it")
    ports = [config.frontend_port, config.http_port, config.czar_mariadb_port] + \
            [p for w in config.workers for p in (w.grpc_port, w.mariadb_port)]
    busy = [p for p in ports if port_open(config.host, p)]
    if busy:
        raise ClusterError(f"ports already in use: {busy} (another cluster? pick --port/--base-port)")
    config.fill_internal_secrets()  # a cluster made before they existed
    config.save()
    for name, db in all_mariadb(config).items():
        echo(f"starting {name} on port {db.port}")
        log = open(config.log_file(name), "ab") if config.log_file(name).parent.exists() else None
        if log is None:
            config.log_file(name).parent.mkdir(parents=True, exist_ok=True)
            log = open(config.log_file(name), "ab")
        db.start(log)
    meta = MetadataStore(czar_mariadb(config).connect())
    meta.initialize()
    for w in config.workers:
        _spawn(config, w.name, ["worker", "--name", w.name])
    for w in config.workers:
        _wait_port(config, w.name, w.grpc_port)
    echo(f"started {len(config.workers)} worker daemons")
    _spawn(config, "czar", ["czar"])
    _wait_port(config, "czar", config.frontend_port)
    _wait_port(config, "czar", config.http_port)
    echo(f"czar listening on {config.host}:{config.frontend_port} (HTTP API on {config.http_port})")


def down(config: ClusterConfig, echo=print) -> None:
    """Stop daemons first (they hold MariaDB connections), then every mariadbd."""
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


@dataclass
class ComponentStatus:
    name: str
    state: str      # "up", "down", "crashed", "unhealthy"
    detail: str = ""


def status(config: ClusterConfig) -> list[ComponentStatus]:
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
            state = "up" if h.mariadb_ok else "unhealthy"
            out.append(ComponentStatus(w.name, state, f"pid {pid}, gRPC {w.grpc_port}, "
                                                      f"{h.running_jobs} running jobs {h.error}".strip()))
    pid = read_pid(config.pid_file("czar"))
    if pid_alive(pid):
        state = "up" if port_open(config.host, config.frontend_port) else "unhealthy"
        out.append(ComponentStatus("czar", state, f"pid {pid}, MySQL port {config.frontend_port}"))
    else:
        out.append(ComponentStatus("czar", "crashed" if pid else "down",
                                   f"see {config.log_file('czar')}" if pid else ""))
    return out
