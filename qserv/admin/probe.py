"""Health checks of one node, for Kubernetes readiness probes and container health checks.

    python -m qserv.admin.probe czar   [--config DIR]
    python -m qserv.admin.probe worker [--config DIR] [--name N]

Exit 0 when the node serves, 1 (with the reason on stderr) when it does not. What is
checked is what clients need, through the node's real interfaces:

- czar: its MariaDB answers (unix socket), the HTTP API answers `GET /meta/version` with 200,
  and the MySQL port sends a protocol greeting;
- worker: the worker's gRPC `Health` call answers (with the cluster's token) and reports its
  MariaDB reachable.

The probe runs on the node's own host (inside its container) and talks to the address the
node binds: 127.0.0.1 when it binds every interface (a pod, where `host` may be a name that
only resolves once the pod is ready), else its `host`.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.request
from dataclasses import replace

from qserv.config import ClusterConfig
from qserv.mariadb import MariaDBServer

WILDCARDS = ("0.0.0.0", "::", "")


def local(config: ClusterConfig, host: str) -> str:
    bound = config.listen_host(host)
    return "127.0.0.1" if bound in WILDCARDS else bound


def mysql_greeting(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when the port sends a MySQL handshake (protocol version 10 after the header)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        head = s.recv(5)
    return len(head) == 5 and head[4] == 10


def check_czar(config: ClusterConfig) -> list[str]:
    problems = []
    here = local(config, config.host)
    if not MariaDBServer.for_czar(config).ping():
        problems.append("the czar's MariaDB does not answer")
    scheme = "https" if config.tls_cert else "http"
    try:
        import ssl
        ctx = ssl._create_unverified_context() if config.tls_cert else None
        with urllib.request.urlopen(f"{scheme}://{here}:{config.http_port}/meta/version",
                                    timeout=3, context=ctx) as r:
            if r.status != 200:
                problems.append(f"HTTP API answered {r.status}")
    except OSError as e:
        problems.append(f"HTTP API on port {config.http_port}: {e}")
    try:
        if not mysql_greeting(here, config.frontend_port):
            problems.append(f"port {config.frontend_port} sent no MySQL greeting")
    except OSError as e:
        problems.append(f"MySQL port {config.frontend_port}: {e}")
    return problems


def check_worker(config: ClusterConfig, name: str) -> list[str]:
    from qserv import workers
    me = config.worker(name)
    me = replace(me, host=local(config, me.host))
    reply = workers.health(me, config.grpc_token, timeout=3.0)
    if reply is None:
        return [f"worker {name}: gRPC port {me.grpc_port} does not answer Health"]
    if not reply.mariadb_ok:
        return [f"worker {name}: its MariaDB is not reachable: {reply.error}"]
    return []


def main(argv=None) -> int:
    from qserv.admin.node import DEFAULT_CONFIG, worker_name
    p = argparse.ArgumentParser(prog="python -m qserv.admin.probe", description=__doc__.split("\n")[0])
    p.add_argument("role", choices=("czar", "worker"))
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--name", default=None, help="the worker's name (default as qserv.admin.node)")
    args = p.parse_args(argv)
    config = ClusterConfig.load(args.config)
    problems = (check_czar(config) if args.role == "czar"
                else check_worker(config, worker_name(args.name)))
    for problem in problems:
        print(f"unhealthy: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
