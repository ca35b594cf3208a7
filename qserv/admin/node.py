"""One role of a cluster in the foreground: what a container (or a systemd unit) runs.

    python -m qserv.admin.node czar   [--config DIR]            the czar's MariaDB + the czar
    python -m qserv.admin.node worker [--config DIR] [--name N] a worker's MariaDB + its daemon
    python -m qserv.admin.node mariadb czar|NAME [--config DIR] only that MariaDB server

A worker whose config says `mariadb_tcp` reaches its MariaDB over TCP at 127.0.0.1 (another
container of its pod, started with `mariadb NAME`, sharing the data directory): its node
then waits for that server and runs only the daemon.

`qserv up` starts the same processes in the background, each in its own session, and a
supervisor restarts them; in a container the container runtime is the supervisor, so here
the processes stay children of this one: the MariaDB server starts first (initialising its
datadir on first start, and the czar's metadata schema), then the daemon; SIGTERM or SIGINT
stops the daemon, then the server; if either exits on its own the other is stopped too and
this process exits non-zero, so Kubernetes restarts the pod instead of leaving half of it up.

The config directory holds `qserv.json` and `secrets.json` (a pod mounts the ConfigMap and
the Secret there as one projected volume); `QSERV_<FIELD>` variables override its fields
(qserv/config.py). A worker's name defaults to QSERV_WORKER_NAME, else the host name, which
is the pod's name in a StatefulSet (`qserv-worker-3`).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer, stop_pid
from qserv.metadata import MetadataStore

DEFAULT_CONFIG = os.environ.get("QSERV_CONFIG", "/etc/qserv")
MARIADB_WAIT_S = 300   # a MariaDB run apart may still be initialising its datadir


def worker_name(given: str | None) -> str:
    return given or os.environ.get("QSERV_WORKER_NAME") or socket.gethostname()


def start_mariadb(config: ClusterConfig, role: str) -> tuple[MariaDBServer, subprocess.Popen]:
    """Start the MariaDB server of `role` ("czar" or a worker's name), logging to stdout."""
    server = MariaDBServer.for_czar(config) if role == "czar" else MariaDBServer.for_worker(config, role)
    proc = server.start(sys.stdout)
    if role == "czar":   # idempotent: a fresh datadir gets the metadata schema
        conn = server.connect()
        try:
            MetadataStore(conn).initialize()
        finally:
            conn.close()
    print(f"qserv-node: {role} MariaDB up (pid {proc.pid}, port {server.port}, "
          f"datadir {server.datadir})", flush=True)
    return server, proc


def run(children: list[tuple[str, subprocess.Popen]]) -> int:
    """Wait until a signal arrives or a child exits; stop the others (last started first)."""
    stopping = {"signal": 0}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    code = 0
    while not stopping["signal"]:
        ended = [(label, c) for label, c in children if c.poll() is not None]
        if ended:
            label, child = ended[0]
            code = child.returncode or 1   # a child that exits on its own is a failure
            print(f"qserv-node: {label} exited with {child.returncode}; stopping the rest",
                  file=sys.stderr, flush=True)
            break
        time.sleep(0.2)
    for _, child in reversed(children):
        stop_pid(child.pid, timeout=60)
        child.wait()
    return code


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m qserv.admin.node", description=__doc__.split("\n")[0])
    p.add_argument("role", choices=("czar", "worker", "mariadb"))
    p.add_argument("instance", nargs="?", help="with `mariadb`: czar or a worker's name")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"config directory (default {DEFAULT_CONFIG})")
    p.add_argument("--name", default=None, help="the worker's name (default: QSERV_WORKER_NAME, "
                                                  "else the host name)")
    args = p.parse_args(argv)
    config = ClusterConfig.load(args.config)
    if args.role == "mariadb":
        if not args.instance:
            p.error("mariadb needs the instance: czar or a worker's name")
        instance = args.instance
    else:
        instance = "czar" if args.role == "czar" else worker_name(args.name)
    if instance != "czar" and instance not in {w.name for w in config.workers}:
        print(f"qserv-node: no worker named {instance!r} in {args.config} (workers: "
              f"{', '.join(w.name for w in config.workers) or 'none'})", file=sys.stderr)
        return 2
    children = []
    if args.role == "worker" and config.worker(instance).mariadb_tcp:
        # its MariaDB runs apart (`mariadb NAME`, another container): wait until it answers
        server = MariaDBServer.for_worker(config, instance)
        deadline = time.monotonic() + MARIADB_WAIT_S
        while not server.ping():
            if time.monotonic() > deadline:
                print(f"qserv-node: {instance}'s MariaDB at 127.0.0.1:{server.port} did not answer "
                      f"within {MARIADB_WAIT_S} s", file=sys.stderr)
                return 1
            time.sleep(1)
    else:
        _, db = start_mariadb(config, instance)
        children.append((f"{instance}'s MariaDB", db))
    if args.role != "mariadb":
        daemon = ["czar"] if args.role == "czar" else ["worker", "--name", instance]
        children.append((f"the {args.role} daemon",
                         subprocess.Popen([sys.executable, "-m", *daemon, "--config", args.config])))
    return run(children)


if __name__ == "__main__":
    sys.exit(main())
