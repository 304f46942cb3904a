"""Capacity: how many /start a second the real bot answers within p99 <= 100 ms, beside a minimal
single-process aiogram bot (bench/minimal_bot.py: one upsert, one menu reply) in the same run.

    python bench/bench_capacity.py [--rates 50,100,200,300,400] [--seconds 5]

Each bot polls its own Telegram stand-in (a process of its own, flood limits lifted) and has its
own database on one throw-away PostgreSQL; the full bot runs under supervisord beside the other
three services, as in production. Load is open-loop: at each rate, new users send /start at fixed
due times for --seconds, first to one bot then to the other (the order alternates per rate, so
machine noise lands on both). A latency runs from the moment the update is handed to the stand-in
to the moment the bot's sendMessage reaches it. Per bot and rate: p50/p99, CPU ms of the bot
process per update (/proc), and database transactions per update (pg_stat_database of its own
database: a statement outside a transaction counts one, a transaction block one).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from sandbox.kit.process import StandInProcess  # noqa: E402
from sandbox.telegram import TelegramControl  # noqa: E402
from tests.support.postgres import PostgresServer, fresh_database, prepare_template  # noqa: E402
from tests.support.system import System  # noqa: E402

FULL_TOKEN = "123456789:BENCH-capacity-full-bot-token-000000"
MINIMAL_TOKEN = "223456789:BENCH-capacity-minimal-token-00000"
GOAL_MS = 100.0
NO_FLOOD_LIMITS = {"global_rate": 1e6, "global_burst": 1e6, "chat_rate": 1e6, "chat_burst": 1e6}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def transactions(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    finally:
        await conn.close()


class Target:
    def __init__(self, name: str, control: TelegramControl, pid: int, url: str, first_user: int) -> None:
        self.name, self.control, self.pid, self.url = name, control, pid, url
        self.next_user = first_user
        self.replied = 0  # sendMessage calls already seen

    async def step(self, rate: float, seconds: float) -> dict:
        sent: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        tasks = set()
        cpu0, xact0 = cpu_seconds(self.pid), await transactions(self.url)
        start, n = loop.time(), 0
        while n < rate * seconds:
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            user = self.next_user
            self.next_user += 1
            n += 1
            sent[user] = time.time()
            task = asyncio.create_task(self.control.user_message(user, "/start", first_name="Bench", language_code="en"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        answered: dict[int, float] = {}
        deadline = time.monotonic() + 20
        while len(answered) < len(sent) and time.monotonic() < deadline:
            for call in (await self.control.calls("sendMessage"))[self.replied:]:
                chat = int(call["params"].get("chat_id", 0))
                if chat in sent and chat not in answered:
                    answered[chat] = call["time"]
            if len(answered) < len(sent):
                await asyncio.sleep(0.2)  # a bench reading another process's log, not a test
        self.replied = len(await self.control.calls("sendMessage"))
        # Settle before reading the counters: the stats collector flushes within a second.
        await asyncio.sleep(1.2)
        cpu1, xact1 = cpu_seconds(self.pid), await transactions(self.url)
        latencies = [(answered[u] - sent[u]) * 1000 for u in answered]
        return {"sent": len(sent), "answered": len(answered),
                "p50": percentile(latencies, 0.5) if latencies else float("inf"),
                "p99": percentile(latencies, 0.99) if len(answered) == len(sent) else float("inf"),
                "cpu_ms": (cpu1 - cpu0) * 1000 / len(sent), "xacts": (xact1 - xact0 - 2) / len(sent)}


async def run(args: argparse.Namespace) -> int:
    server = PostgresServer()
    server.start()
    full_tg = StandInProcess("sandbox.telegram", "--port", "0", "--token", FULL_TOKEN)
    minimal_tg = StandInProcess("sandbox.telegram", "--port", "0", "--token", MINIMAL_TOKEN)
    system: System | None = None
    minimal: subprocess.Popen | None = None
    controls: list[TelegramControl] = []
    try:
        await prepare_template(server)
        full_url, minimal_url = await fresh_database(server), await fresh_database(server)
        full_info, minimal_info = await full_tg.start(), await minimal_tg.start()
        system = System(full_url, extra_env={"ATCS_BOT_TOKEN": FULL_TOKEN, "ATCS_TELEGRAM_API_URL": full_info["api_url"],
                                             "ATCS_BACKUP_ENABLED": "false"})
        system.start()
        minimal = subprocess.Popen([sys.executable, str(Path(__file__).with_name("minimal_bot.py")),
                                    "--api", minimal_info["api_url"], "--token", MINIMAL_TOKEN, "--database", minimal_url])
        targets = []
        for name, info, pid, url, first in (("full bot", full_info, system.pid("bot"), full_url, 10_000_000),
                                            ("minimal bot", minimal_info, minimal.pid, minimal_url, 20_000_000)):
            control = TelegramControl(info["url"])
            controls.append(control)
            await control.set_limits(**NO_FLOOD_LIMITS)
            await control.user_message(first - 1, "/start", first_name="Warm", language_code="en")
            await control.wait_for_message(first - 1, timeout=60)
            targets.append(Target(name, control, pid, url, first))
        for target in targets:  # warm-up: imports, pools and caches filled before measuring
            await target.step(args.rates[0], 2)
        print(f"open-loop /start, {args.seconds:.0f} s per rate and bot; p99 goal {GOAL_MS:.0f} ms")
        print(f"{'rate/s':>7} {'bot':12} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/upd':>11} {'xact/upd':>9}")
        held = {t.name: 0.0 for t in targets}
        per_update: dict[str, list[tuple[float, float]]] = {t.name: [] for t in targets}
        for i, rate in enumerate(args.rates):
            order = targets if i % 2 == 0 else targets[::-1]
            for target in order:
                r = await target.step(rate, args.seconds)
                print(f"{rate:>7.0f} {target.name:12} {r['answered']:>5}/{r['sent']:<4}{r['p50']:>7.1f} {r['p99']:>8.1f}"
                      f" {r['cpu_ms']:>11.2f} {r['xacts']:>9.2f}", flush=True)
                per_update[target.name].append((r["cpu_ms"], r["xacts"]))
                if r["p99"] <= GOAL_MS:
                    held[target.name] = max(held[target.name], rate)
        full, minimal_name = targets[0].name, targets[1].name
        cpu = {n: min(c for c, _ in v) for n, v in per_update.items()}
        xacts = {n: min(x for _, x in v) for n, v in per_update.items()}
        print()
        print(f"{'':28}{'full bot':>10}{'minimal':>10}{'full/minimal':>14}")
        ratio = held[full] / held[minimal_name] if held[minimal_name] else float("nan")
        print(f"{'highest rate at p99<=100ms':28}{held[full]:>10.0f}{held[minimal_name]:>10.0f}{ratio:>14.2f}")
        print(f"{'CPU ms per update (best)':28}{cpu[full]:>10.2f}{cpu[minimal_name]:>10.2f}{cpu[full] / cpu[minimal_name]:>14.2f}")
        print(f"{'DB transactions per update':28}{xacts[full]:>10.2f}{xacts[minimal_name]:>10.2f}")
        print(f"goal: full >= 0.8 x minimal: {'met' if ratio >= 0.8 else 'NOT met'}")
        return 0
    finally:
        for control in controls:
            await control.close()
        if minimal is not None:
            minimal.terminate()
            minimal.wait(10)
        if system is not None:
            system.shutdown()
            system.cleanup()
        await full_tg.stop()
        await minimal_tg.stop()
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50, 100, 200, 300, 400])
    parser.add_argument("--seconds", type=float, default=5.0)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
