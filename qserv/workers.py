"""Client side of the worker contract, for tools that talk to workers (loader, status)."""

from __future__ import annotations

import grpc

from qserv.config import ClusterConfig, WorkerConfig
from qserv.grpc_auth import channel
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc



def message_options(max_bytes: int) -> list[tuple[str, int]]:
    """gRPC's message size limits, the same both ways and on both sides
    (ClusterConfig.grpc_max_message_bytes)."""
    return [("grpc.max_send_message_length", max_bytes),
            ("grpc.max_receive_message_length", max_bytes)]


CHANNEL_OPTIONS = message_options(ClusterConfig.grpc_max_message_bytes)   # the default's
# The czar's channels to workers: a restarted worker is tried again within a second (gRPC's
# default back-off between reconnection attempts grows to 2 minutes, during which every call
# fails at once). gRPC reads `min_reconnect_backoff_ms` as the time one connection attempt may
# take: at 200 ms (as it once was here) a loaded machine's slow accept counted as a dead worker.
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200),
                     ("grpc.max_reconnect_backoff_ms", 1000),
                     ("grpc.min_reconnect_backoff_ms", 5000)]


def stub(worker: WorkerConfig, token: str) -> pb_grpc.WorkerStub:
    return pb_grpc.WorkerStub(channel(worker.grpc_address(), token, CHANNEL_OPTIONS))


def health(worker: WorkerConfig, token: str, timeout: float = 2.0) -> pb.HealthReply | None:
    try:
        with channel(worker.grpc_address(), token) as ch:
            return pb_grpc.WorkerStub(ch).Health(pb.HealthRequest(), timeout=timeout)
    except grpc.RpcError:
        return None

