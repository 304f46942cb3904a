"""Isolation benchmark: does admin work slow down the people using the bot?

    python bench/bench_isolation.py [--rate 3] [--duration 120] [--rounds 4] [--users 200000] [--recipients 50000]

Starts the real system (supervisord with all four services, a throw-away PostgreSQL, the
Telegram and Outline stand-ins as separate processes) and measures /start latency — from the
user's message reaching the Telegram stand-in to the bot's answer appearing there — at a steady
rate of new users, in two conditions:

  (a) idle;
  (b) during a broadcast to --recipients users (scheduler, 25/s), CSV exports of all --users
      users back to back (scheduler), and the VPN panel stand-in answering after 5 s.

The conditions alternate in --rounds rounds (a b, b a, a b, ...) of --duration/--rounds seconds
each, switching (b) on and off with the scheduler's own PAUSE/RESUME_BROADCAST, so that noise
from the machine (other processes, PostgreSQL's background work) lands on both alike. Prints
p50/p99 of each condition and the (b)/(a) ratios; the goal is a p99 ratio of at most 1.5.

Telegram allows a bot about 30 messages a second; the broadcast takes 25 of them, so --rate
(new users per second, each answered by the bot) should stay at a few per second, or the bot
meets flood control — which is Telegram's doing, not a failure of isolation.

vpn_gateway is pointed at the Outline stand-in (ATCS_VPN_SERVERS below); --env KEY=VALUE sets or
overrides any variable of the services, with {panel_url} replaced by the stand-in's API URL.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from common.contract.scheduler import (BROADCAST_STATE, CANCEL_BROADCAST, EXPORT_STATE,  # noqa: E402
                                       PAUSE_BROADCAST, RESUME_BROADCAST, START_BROADCAST, START_EXPORT,
                                       BroadcastControl, BroadcastQuery, ExportQuery, StartBroadcast,
                                       StartExport)
from common.ipc import RpcError  # noqa: E402
from sandbox.kit.process import StandInProcess  # noqa: E402
from sandbox.telegram import TelegramControl  # noqa: E402
from tests.support.postgres import PostgresServer, fresh_database, prepare_template  # noqa: E402
from tests.support.system import System  # noqa: E402

TOKEN = "123456789:BENCH-isolation-token-not-a-real-bot-0"
VPN_SERVERS = '[{"name": "bench", "backend": "outline", "api_url": "{panel_url}"}]'
ADMIN_ID = 1
LOAD_USERS_FROM = 10_000_000       # /start senders: new users, outside the seeded ones
SETTLE = 2.0                       # seconds after switching (b) on or off before measuring


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(url: str, users: int, recipients: int) -> None:
    """`users` users; the first `recipients` speak 'en' (the broadcast's audience), the rest 'de'."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO users (id, username, first_name, language, referral_code)
               SELECT g, 'user' || g, 'Name ' || g, CASE WHEN g <= $2 THEN 'en' ELSE 'de' END, 'r' || g
               FROM generate_series(100, 99 + $1::bigint) g""",
            users, 99 + recipients)
    finally:
        await conn.close()


class Load:
    """New users sending /start at a steady rate; each latency is one sample."""

    def __init__(self, telegram: TelegramControl, rate: float, first_user: int) -> None:
        self.telegram = telegram
        self.rate = rate
        self.next_user = first_user
        self.timeouts = 0

    async def one(self, user_id: int, samples: list[float]) -> None:
        started = time.perf_counter()
        await self.telegram.user_message(user_id, "/start", first_name="Bench", language_code="en")
        try:
            await self.telegram.wait_for_message(user_id, timeout=30)
        except TimeoutError:
            self.timeouts += 1
            return
        samples.append(time.perf_counter() - started)

    async def run(self, seconds: float) -> list[float]:
        samples: list[float] = []
        tasks: set[asyncio.Task] = set()
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while loop.time() - start < seconds:
            # Arrivals on a fixed schedule (open loop): a slow answer never slows the arrivals.
            due = start + sent / self.rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(self.one(self.next_user, samples))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.next_user += 1
            sent += 1
        if tasks:
            await asyncio.wait(tasks)
        return samples


async def keep_exporting(client, stop: asyncio.Event, done: list[int], first: int) -> int:
    """Users exports back to back until `stop`; the last one is waited for. Returns the next number."""
    n = first
    while not stop.is_set():
        state = await client.call(START_EXPORT, StartExport(admin_id=ADMIN_ID, request_id=f"bench-{n}", kind="users"))
        n += 1
        while True:
            current = await client.call(EXPORT_STATE, ExportQuery(export_id=state.export_id))
            if current.state in ("done", "failed"):
                if current.state == "done":
                    done.append(current.rows or 0)
                break
            await asyncio.sleep(0.2)
    return n


class Busy:
    """Condition (b) switched on and off: broadcast resumed/paused, exports running/stopped,
    the panel slow/normal."""

    def __init__(self, scheduler, panel_control: str, broadcast_id: int, skip: list[str]) -> None:
        self.scheduler = scheduler
        self.panel_control = panel_control
        self.broadcast_id = broadcast_id
        self.skip = skip
        self.exported: list[int] = []
        self._next_export = 1
        self._stop = asyncio.Event()
        self._exporter: asyncio.Task | None = None

    async def on(self) -> None:
        control = BroadcastControl(admin_id=ADMIN_ID, broadcast_id=self.broadcast_id)
        if "broadcast" not in self.skip:
            await self.scheduler.call(RESUME_BROADCAST, control)
            await self._broadcast_is("running")
        if "export" not in self.skip:
            self._stop = asyncio.Event()
            self._exporter = asyncio.create_task(keep_exporting(self.scheduler, self._stop, self.exported,
                                                                self._next_export))
        if "panel" not in self.skip:
            await panel_faults(self.panel_control, latency=5.0)
        await asyncio.sleep(SETTLE)

    async def off(self) -> None:
        self._stop.set()
        if self._exporter is not None:
            self._next_export = await self._exporter
            self._exporter = None
        control = BroadcastControl(admin_id=ADMIN_ID, broadcast_id=self.broadcast_id)
        state = await self.scheduler.call(BROADCAST_STATE, BroadcastQuery(broadcast_id=self.broadcast_id))
        if state.state == "running":
            await self.scheduler.call(PAUSE_BROADCAST, control)
            # Paused means the run has settled: nothing of the broadcast is in flight any more.
            await self._broadcast_is("paused")
        await panel_faults(self.panel_control, latency=None)
        await asyncio.sleep(SETTLE)

    async def _broadcast_is(self, wanted: str) -> None:
        while (await self.scheduler.call(BROADCAST_STATE, BroadcastQuery(broadcast_id=self.broadcast_id))).state != wanted:
            await asyncio.sleep(0.1)


async def panel_faults(control_url: str, latency: float | None) -> None:
    async with aiohttp.ClientSession() as http:
        if latency is None:
            async with http.delete(f"{control_url}/_control/faults") as r:
                r.raise_for_status()
        else:
            async with http.post(f"{control_url}/_control/faults",
                                 json={"route": "*", "kind": "latency", "latency": latency}) as r:
                r.raise_for_status()


async def main(args: argparse.Namespace) -> int:
    server = PostgresServer()
    server.start()
    telegram_process = StandInProcess("sandbox.telegram", "--port", "0", "--token", TOKEN)
    panel_process = StandInProcess("sandbox.panels.outline", "--port", "0")
    system: System | None = None
    telegram: TelegramControl | None = None
    try:
        await prepare_template(server)
        url = await fresh_database(server)
        print(f"seeding {args.users} users ({args.recipients} in the broadcast's audience)…", flush=True)
        await seed(url, args.users, args.recipients)
        telegram_info = await telegram_process.start()
        panel_info = await panel_process.start()
        panel_url, panel_control = panel_info["apiUrl"], panel_info["url"]
        env = {"ATCS_BOT_TOKEN": TOKEN, "ATCS_TELEGRAM_API_URL": telegram_info["api_url"],
               "ATCS_ADMIN_IDS": str(ADMIN_ID), "ATCS_BROADCAST_RATE": str(args.broadcast_rate),
               "ATCS_EXPORT_DIR": str(Path(server.data_dir).parent / "exports"), "ATCS_BACKUP_ENABLED": "false",
               "ATCS_VPN_SERVERS": VPN_SERVERS.replace("{panel_url}", panel_url)}
        for item in args.env:
            key, _, value = item.partition("=")
            env[key] = value.replace("{panel_url}", panel_url)
        system = System(url, extra_env=env)
        system.start()
        telegram = TelegramControl(telegram_info["url"])
        scheduler = system.client("scheduler")
        load = Load(telegram, args.rate, LOAD_USERS_FROM)

        probe: list[float] = []
        await load.one(LOAD_USERS_FROM - 1, probe)
        if not probe:
            print("the bot did not answer /start within 30 s: services/bot is not ready to be benchmarked "
                  f"(bot log: {system.dir / 'var' / 'log' / 'bot.log'})")
            return 2

        broadcast = await scheduler.call(START_BROADCAST, StartBroadcast(
            admin_id=ADMIN_ID, request_id="bench", text="Bench broadcast: <b>ATCS</b>", language="en"))
        busy_switch = Busy(scheduler, panel_control, broadcast.broadcast_id, args.skip)
        while (await scheduler.call(BROADCAST_STATE, BroadcastQuery(broadcast_id=broadcast.broadcast_id))).state == "queued":
            await asyncio.sleep(0.2)
        await busy_switch.off()
        print(f"warm-up {args.warmup:.0f}s, then {args.rounds} rounds of (a) and (b), "
              f"{args.duration / args.rounds:.0f}s each, at {args.rate}/s…", flush=True)
        await load.run(args.warmup)
        idle: list[float] = []
        busy: list[float] = []
        started = time.monotonic()
        for round_no in range(args.rounds):
            order = ("a", "b") if round_no % 2 == 0 else ("b", "a")
            for condition in order:
                if condition == "b":
                    await busy_switch.on()
                    busy += await load.run(args.duration / args.rounds)
                    await busy_switch.off()
                else:
                    idle += await load.run(args.duration / args.rounds)
            print(f"  round {round_no + 1}/{args.rounds} done ({time.monotonic() - started:.0f}s)", flush=True)
        during = await scheduler.call(BROADCAST_STATE, BroadcastQuery(broadcast_id=broadcast.broadcast_id))
        exported = busy_switch.exported
        try:
            await scheduler.call(CANCEL_BROADCAST, BroadcastControl(admin_id=ADMIN_ID, broadcast_id=broadcast.broadcast_id))
        except RpcError:
            pass

        report(idle, busy, load.timeouts, during, exported)
        return 0
    finally:
        if telegram is not None:
            await telegram.close()
        if system is not None:
            system.shutdown()
            system.cleanup()
        await telegram_process.stop()
        await panel_process.stop()
        server.destroy()


def report(idle: list[float], busy: list[float], timeouts: int, broadcast, exported: list[int]) -> None:
    if not idle or not busy:
        print("not enough answers to compare")
        return
    a50, a99 = percentile(idle, 0.50) * 1000, percentile(idle, 0.99) * 1000
    b50, b99 = percentile(busy, 0.50) * 1000, percentile(busy, 0.99) * 1000
    print()
    print(f"{'':14}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'(a) idle':14}{len(idle):>6}{a50:>10.1f}{a99:>10.1f}")
    print(f"{'(b) busy':14}{len(busy):>6}{b50:>10.1f}{b99:>10.1f}")
    print(f"{'(b)/(a)':14}{'':>6}{b50 / a50:>10.2f}{b99 / a99:>10.2f}")
    print(f"unanswered within 30 s: {timeouts}")
    print(f"during (b): broadcast sent {broadcast.sent} (throttled {broadcast.throttled}), "
          f"{len(exported)} exports of {exported[0] if exported else 0} rows finished")
    verdict = "PASS" if b99 / a99 <= 1.5 else "FAIL"
    print(f"goal p99 ratio <= 1.5: {verdict}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=3.0, help="new users sending /start per second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of each condition, over all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of (a) and (b), alternating")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load before phase (a)")
    parser.add_argument("--users", type=int, default=200_000, help="users in the database (rows of each export)")
    parser.add_argument("--recipients", type=int, default=50_000, help="recipients of the broadcast")
    parser.add_argument("--broadcast-rate", type=float, default=25.0, help="the scheduler's broadcast cap")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the services ({panel_url} expands)")
    parser.add_argument("--skip", action="append", default=[], choices=("broadcast", "export", "panel"),
                        help="leave one load out of phase (b), to see what each costs")
    return parser.parse_args()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main(parse_args())))
