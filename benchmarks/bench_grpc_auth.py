"""What the gRPC token costs (qserv/grpc_auth.py): one in-process grpc.aio server with the
worker's RunChunkQuery shape (a request, a stream of ResultBatch), called over a plain channel
to a server without interceptor, over another such pair (the noise floor: two identical set-ups
differ by this much), and over a token channel to a server with TokenCheck, in rotation call
by call so all see the same machine load.

Two shapes: a look-up (one small message back) and a scan's stream (`--pieces` messages of
`--piece-kb` KB). Prints a JSON line and writes benchmarks/results/bench_grpc_auth.md.

    python -m benchmarks.bench_grpc_auth [--calls 2000] [--port 35990]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import grpc

from benchmarks.common import report
from qserv.grpc_auth import TokenCheck, aio_channel
from qserv.v1 import worker_pb2 as pb
from qserv.v1 import worker_pb2_grpc as pb_grpc
from qserv.workers import CHANNEL_OPTIONS

TOKEN = "benchmark-token"


class Rows(pb_grpc.WorkerServicer):
    def __init__(self, piece_kb: int):
        self.piece = b"x" * (piece_kb << 10)

    async def RunChunkQuery(self, request, context):
        for _ in range(len(request.chunk_ids)):   # one message per "chunk" asked for
            yield pb.ResultBatch(tsv=self.piece if len(request.chunk_ids) > 1 else b"1\t2\n")
        yield pb.ResultBatch(chunks_done=len(request.chunk_ids))


async def start(port: int, interceptors, piece_kb: int) -> grpc.aio.Server:
    server = grpc.aio.server(interceptors=interceptors, options=CHANNEL_OPTIONS)
    pb_grpc.add_WorkerServicer_to_server(Rows(piece_kb), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def one_call(stub, chunks: int) -> float:
    t = time.perf_counter()
    async for _ in stub.RunChunkQuery(pb.ChunkQueryRequest(query_id="b", chunk_ids=list(range(chunks)))):
        pass
    return time.perf_counter() - t


async def main(args) -> None:
    servers = [await start(args.port, [], args.piece_kb),
               await start(args.port + 1, [], args.piece_kb),
               await start(args.port + 2, [TokenCheck(TOKEN)], args.piece_kb)]
    stubs = {
        "plain": pb_grpc.WorkerStub(grpc.aio.insecure_channel(f"127.0.0.1:{args.port}",
                                                              options=CHANNEL_OPTIONS)),
        # the same as "plain" on another server: how far two identical setups differ here
        "plain again": pb_grpc.WorkerStub(grpc.aio.insecure_channel(f"127.0.0.1:{args.port + 1}",
                                                                    options=CHANNEL_OPTIONS)),
        "token": pb_grpc.WorkerStub(aio_channel(f"127.0.0.1:{args.port + 2}", TOKEN,
                                                CHANNEL_OPTIONS)),
    }
    rows, summary = [], {}
    for shape, chunks, calls in (("look-up (1 message)", 1, args.calls),
                                 (f"stream ({args.pieces} x {args.piece_kb} KB)", args.pieces,
                                  max(20, args.calls // 20))):
        times = {name: [] for name in stubs}
        for _ in range(20):   # warm the channels up
            for stub in stubs.values():
                await one_call(stub, chunks)
        order = list(stubs.items())
        for i in range(calls):   # rotate which goes first: position alone moved medians ~5%
            for name, stub in order[i % 3:] + order[:i % 3]:
                times[name].append(await one_call(stub, chunks))
        m = {name: statistics.median(t) for name, t in times.items()}
        rows.append({"shape": shape, "calls": calls,
                     "plain median ms": round(m["plain"] * 1e3, 3),
                     "plain again ms": round(m["plain again"] * 1e3, 3),
                     "with token ms": round(m["token"] * 1e3, 3),
                     "token / plain": round(m["token"] / m["plain"], 3),
                     "plain again / plain (noise)": round(m["plain again"] / m["plain"], 3)})
        key = "lookup" if chunks == 1 else "stream"
        summary[f"ratio_{key}"] = rows[-1]["token / plain"]
        summary[f"noise_{key}"] = rows[-1]["plain again / plain (noise)"]
    for server in servers:
        await server.stop(None)
    report("bench_grpc_auth", summary, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pieces", type=int, default=64)
    parser.add_argument("--piece-kb", type=int, default=1024)
    parser.add_argument("--port", type=int, default=35990)
    asyncio.run(main(parser.parse_args()))
