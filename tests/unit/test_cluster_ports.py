"""`up` refuses to start over a port that another process holds (qserv/admin/cluster.py),
after a short wait for a component that was just killed to close its sockets."""

from __future__ import annotations

import socket
import threading
import time

from qserv.admin import cluster
from qserv.config import ClusterConfig


def _listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_foreign_listener_is_reported(tmp_path):
    with _listening() as held:
        port = held.getsockname()[1]
        config = ClusterConfig(dir=str(tmp_path), host="127.0.0.1", frontend_port=port,
                               http_port=port)
        busy = cluster._busy_ports(config, ["czar"], settle_s=0.3)
    assert busy == {"czar": [port, port]}   # the frontend and HTTP ports, both on it


def test_a_port_freed_while_waiting_is_not_busy(tmp_path):
    held = _listening()
    port = held.getsockname()[1]
    config = ClusterConfig(dir=str(tmp_path), host="127.0.0.1", frontend_port=port,
                           http_port=port)
    threading.Timer(0.5, held.close).start()   # the killed component's socket closes late
    started = time.monotonic()
    assert cluster._busy_ports(config, ["czar"], settle_s=10.0) == {}
    assert time.monotonic() - started < 10.0


def test_nothing_listening(tmp_path):
    with _listening() as probe:
        port = probe.getsockname()[1]
    config = ClusterConfig(dir=str(tmp_path), host="127.0.0.1", frontend_port=port,
                           http_port=port)
    assert cluster._busy_ports(config, ["czar"], settle_s=0.0) == {}
