"""Paid against free broadcasts (issue 13.5), measured in the same run against the same stand-in.

    python bench/bench_paid_broadcast.py [--recipients 5000] [--free-recipients 500]

A throw-away PostgreSQL, the Telegram stand-in enforcing Telegram's free 30 messages/s (429
retry_after beyond it, 0.1 Star per message sent past it with allow_paid_broadcast), and the real
scheduler process. First a free broadcast to --free-recipients users (its pace is flat, so its rate
over them is its rate over any number), then a paid one to --recipients users. Printed: the free
rate (the baseline), the paid broadcast's time from START_BROADCAST to done, the ratio of the free
time for the same audience to it, and what Telegram billed against the quote shown beforehand.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from common.contract.scheduler import (BROADCAST_STATE, QUOTE_BROADCAST, START_BROADCAST,  # noqa: E402
                                       BroadcastQuery, QuoteBroadcast, StartBroadcast)
from sandbox.telegram import TelegramStandIn  # noqa: E402
from tests.scheduler.process import ADMIN_ID, SchedulerProcess  # noqa: E402
from tests.scheduler.seed import add_users  # noqa: E402
from tests.support.postgres import PostgresServer, fresh_database, prepare_template  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"


async def _run_broadcast(scheduler: SchedulerProcess, request: StartBroadcast, timeout: float) -> float:
    started = time.monotonic()
    state = await scheduler.client().call(START_BROADCAST, request)

    async def done():
        current = await scheduler.client().call(BROADCAST_STATE, BroadcastQuery(broadcast_id=state.broadcast_id))
        return current if current.state == "done" else None
    await wait_for(done, timeout=timeout, interval=0.2, message=f"broadcast {request.request_id} done")
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> None:
    server = PostgresServer()
    server.start()
    standin = TelegramStandIn(token=TOKEN, limits={"global_rate": 30, "global_burst": 30})
    scheduler: SchedulerProcess | None = None
    try:
        await prepare_template(server)
        url = await fresh_database(server)
        conn = await asyncpg.connect(url)
        await add_users(conn, 4_000_000, args.recipients, language="en")
        await add_users(conn, 5_000_000, args.free_recipients, language="ru")
        await conn.close()
        await standin.start()
        await standin.set_star_balance(100_000)
        # Not niced: its rival for the CPU here is the stand-in, which in production is Telegram's servers.
        scheduler = SchedulerProcess(url, standin.url, TOKEN, env={"ATCS_SCHEDULER_NICE": "0"})
        scheduler.start()
        await wait_for(scheduler.is_leader, timeout=30, message="scheduler leader")

        await _run_broadcast(scheduler, StartBroadcast(admin_id=ADMIN_ID, request_id="free", text="Free news",
                                                       language="ru"), args.free_recipients / 20 + 60)
        free = sorted(c.time for c in standin.world.calls if c.method == "sendMessage" and c.status == 200)
        free_rate = (len(free) - 1) / (free[-1] - free[0])
        quote = await scheduler.client().call(QUOTE_BROADCAST, QuoteBroadcast(admin_id=ADMIN_ID, language="en"))
        paid_time = await _run_broadcast(scheduler, StartBroadcast(
            admin_id=ADMIN_ID, request_id="paid", text="Paid news", language="en", paid=True), 600)
        balance = await standin.star_balance()
        throttled = sum(1 for c in standin.world.calls if c.status == 429)
        free_time = args.recipients / free_rate
        print(f"free broadcast (baseline): {free_rate:.1f} messages/s over {args.free_recipients} recipients "
              f"-> {free_time:.0f} s for {args.recipients}")
        print(f"paid broadcast: {args.recipients} recipients in {paid_time:.1f} s from start to done "
              f"({args.recipients / paid_time:.0f} messages/s), 429 answers {throttled}")
        print(f"ratio free/paid time: {free_time / paid_time:.1f}x")
        print(f"quoted before start: {quote.stars_estimate} Stars (at most {quote.stars_max}); "
              f"billed: {balance['billed_messages']} messages = {balance['billed_messages'] / 10:.1f} Stars")
    finally:
        if scheduler is not None:
            await scheduler.close()
            scheduler.remove_run_dir()
        await standin.stop()
        server.stop()
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=5000, help="users of the paid broadcast")
    parser.add_argument("--free-recipients", type=int, default=500, help="users of the free baseline")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
