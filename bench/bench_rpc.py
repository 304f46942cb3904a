"""RPC round trip over ipc://: our client/server (envelope, validation, deadline) against a raw
pyzmq DEALER/ROUTER echo measured in the same run, on the same machine, at the same time.

    python bench/bench_rpc.py [--requests 5000]

The servers run in a child process (as they do in production); rounds alternate between the two
so that machine noise lands on both alike. The ratio is the figure to compare across runs.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zmq  # noqa: E402
import zmq.asyncio  # noqa: E402

from common.contract.core import PING, PingResult  # noqa: E402
from common.ipc import RpcClient, RpcServer  # noqa: E402


def serve(raw_endpoint: str, rpc_endpoint: str, ready) -> None:
    async def main() -> None:
        context = zmq.asyncio.Context()
        raw = context.socket(zmq.ROUTER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.bind(raw_endpoint)
        server = RpcServer(context, rpc_endpoint, "bench")

        async def ping(_: object) -> PingResult:
            return PingResult(service="bench", pid=os.getpid(), time=time.time())
        server.handle(PING, ping)
        server.bind()

        async def echo() -> None:
            while True:
                frames = await raw.recv_multipart()
                await raw.send_multipart(frames)
        ready.set()
        await asyncio.gather(echo(), server.serve())
    asyncio.run(main())


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(raw_endpoint: str, rpc_endpoint: str, requests: int, rounds: int) -> tuple[list[float], list[float]]:
    context = zmq.asyncio.Context()
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(raw_endpoint)
    client = RpcClient(context, rpc_endpoint, default_timeout=2.0)
    payload = b'{"id":"0123456789abcdef0123456789abcdef","method":"ping","deadline":1.0,"body":{}}'
    for _ in range(200):  # warm up both paths
        await raw.send(payload)
        await raw.recv()
        await client.call(PING)
    raw_times: list[float] = []
    rpc_times: list[float] = []
    per_round = requests // rounds
    for _ in range(rounds):
        for _ in range(per_round):
            started = time.perf_counter()
            await raw.send(payload)
            await raw.recv()
            raw_times.append(time.perf_counter() - started)
        for _ in range(per_round):
            started = time.perf_counter()
            await client.call(PING)
            rpc_times.append(time.perf_counter() - started)
    client.close()
    raw.close()
    context.term()
    return raw_times, rpc_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="atcs-bench-", dir="/tmp")
    raw_endpoint, rpc_endpoint = f"ipc://{folder}/raw.ipc", f"ipc://{folder}/rpc.ipc"
    ready = multiprocessing.Event()
    child = multiprocessing.Process(target=serve, args=(raw_endpoint, rpc_endpoint, ready), daemon=True)
    child.start()
    if not ready.wait(10):
        raise SystemExit("bench server did not start")
    try:
        raw_times, rpc_times = asyncio.run(measure(raw_endpoint, rpc_endpoint, args.requests, args.rounds))
    finally:
        child.terminate()
        child.join(5)
    rows = []
    for name, samples in (("raw pyzmq DEALER/ROUTER echo", raw_times), ("atcs RpcClient -> RpcServer ping", rpc_times)):
        rows.append((name, percentile(samples, 0.5) * 1e6, percentile(samples, 0.99) * 1e6, statistics.mean(samples) * 1e6))
    print(f"RPC round trip over ipc://, {len(rpc_times)} requests each, {args.rounds} alternating rounds")
    print(f"{'path':36} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}")
    for name, p50, p99, mean in rows:
        print(f"{name:36} {p50:9.1f} {p99:9.1f} {mean:9.1f}")
    print(f"ratio atcs/raw: p50 {rows[1][1] / rows[0][1]:.2f}x  p99 {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
