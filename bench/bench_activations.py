"""Activations per second against one panel: the real vpn_gateway process draining a queue of new
users' activations, beside the bare panel work of as many activations made in this process, in the
same run against the same panel stand-in.

    python bench/bench_activations.py [--activations 400] [--rounds 2] [--concurrency 4]

A throw-away PostgreSQL, the Outline stand-in as a process of its own, and `python -m
services.vpn_gateway` with one server allowing --concurrency panel requests at once (its
max_concurrency). Each round, in turn:

- bare (the baseline): the gateway's own Outline backend, called directly with --concurrency at
  once, does what one new user's activation asks of the panel (find the key: none; create it) for
  --activations users: no queue, no database;
- gateway: --activations settled grants (a subscription and its 'issue' activation each, as
  payments writes them) are made due at one instant, and the gateway claims, provisions and
  records them (key stored, notification queued, one commit each); timed from that instant to the
  last row's done_at.

Printed: activations per second of each and gateway/bare, per round and the median; the gateway's
rate is what one host's vpn_gateway holds against one panel of this speed (more panels, more).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from common.shop.access import grant_days  # noqa: E402
from sandbox.kit.process import StandInProcess  # noqa: E402
from services.vpn_gateway.panels.base import AccessSpec  # noqa: E402
from services.vpn_gateway.panels.pool import ServerPool  # noqa: E402
from services.vpn_gateway.settings import VpnSettings  # noqa: E402
from tests.support.postgres import PostgresServer, fresh_database, prepare_template  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402
from tests.vpn_gateway.support import GatewayProcess, servers_json  # noqa: E402


async def bare(servers: list[dict], ids: list[str], concurrency: int) -> float:
    pool = ServerPool.from_settings(VpnSettings(vpn_servers=SecretStr(servers_json(servers))))
    backend = next(iter(pool)).backend
    spec = AccessSpec(expires_at=datetime.now(UTC) + timedelta(days=30), traffic_limit_bytes=0)
    slots = asyncio.Semaphore(concurrency)

    async def one(external_id: str) -> None:
        async with slots:
            assert await backend.find(external_id) is None
            await backend.create(external_id, spec)
    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in ids))
        return len(ids) / (time.perf_counter() - started)
    finally:
        await pool.close()


async def gateway(conn: asyncpg.Connection, first_user: int, count: int) -> float:
    users = list(range(first_user, first_user + count))
    async with conn.transaction():   # settled grants, held back until the instant below
        await conn.execute(
            """INSERT INTO users (id, first_name, referral_code)
               SELECT g, 'Bench', 'b' || g FROM generate_series($1::bigint, $2::bigint) g""", users[0], users[-1])
        for user_id in users:
            await grant_days(conn, user_id, 30, key=f"bench:{user_id}")
        await conn.execute("UPDATE activations SET next_attempt_at = now() + interval '1 day' WHERE user_id = ANY($1)",
                           users)
    released = await conn.fetchval(
        "UPDATE activations SET next_attempt_at = now() WHERE user_id = ANY($1) RETURNING extract(epoch FROM now())",
        users)
    done = "SELECT count(*) FILTER (WHERE state = 'done'), max(extract(epoch FROM done_at)) FROM activations " \
           "WHERE user_id = ANY($1)"

    async def drained():
        row = await conn.fetchrow(done, users)
        return row if row[0] == count else None
    finished = await wait_for(drained, timeout=120, interval=0.1, message="every activation done")
    return count / (float(finished[1]) - float(released))


async def run(args: argparse.Namespace) -> None:
    server = PostgresServer()
    server.start()
    panel = StandInProcess("sandbox.panels.outline", "--port", "0")
    process: GatewayProcess | None = None
    try:
        await prepare_template(server)
        url = await fresh_database(server)
        info = await panel.start()
        servers = [{"name": "bench", "backend": "outline", "api_url": info["apiUrl"], "capacity": 1_000_000,
                    "max_concurrency": args.concurrency, "request_timeout": 10}]
        process = GatewayProcess(url, servers, vpn_scan_interval=0.1)
        process.start()
        await process.wait_ready(timeout=60)
        conn = await asyncpg.connect(url)
        try:
            # warm-up: imports, pools, the panel's first keys
            await bare(servers, [f"warm-{i}" for i in range(20)], args.concurrency)
            await gateway(conn, 9_000_000, 20)
            print(f"bench: {args.activations} new users' activations per round against one Outline stand-in, "
                  f"{args.concurrency} panel requests at once")
            print(f"{'round':>5} {'bare /s':>9} {'gateway /s':>11} {'gateway/bare':>13}")
            rates: list[tuple[float, float]] = []
            for number in range(args.rounds):
                ids = [f"bare-{number}-{i}" for i in range(args.activations)]
                first = 10_000_000 + number * args.activations
                if number % 2 == 0:   # alternate the order so machine noise lands on both
                    base = await bare(servers, ids, args.concurrency)
                    ours = await gateway(conn, first, args.activations)
                else:
                    ours = await gateway(conn, first, args.activations)
                    base = await bare(servers, ids, args.concurrency)
                rates.append((base, ours))
                print(f"{number + 1:>5} {base:>9.1f} {ours:>11.1f} {ours / base:>13.2f}", flush=True)
            base = statistics.median(r[0] for r in rates)
            ours = statistics.median(r[1] for r in rates)
            print(f"median: bare {base:.1f}/s, gateway {ours:.1f}/s, gateway/bare {ours / base:.2f}")
        finally:
            await conn.close()
    finally:
        if process is not None:
            process.close()
        await panel.stop()
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
