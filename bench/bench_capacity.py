"""Capacity: how many /start and menu taps a second the real bot answers within p99 <= 100 ms, beside a
minimal single-process aiogram bot (bench/minimal_bot.py: one upsert, one menu reply or edit) in the same run.

    python bench/bench_capacity.py [--rates 50,100,200,300,400] [--seconds 5] [--profile DIR]

Each bot polls its own Telegram stand-in (a process of its own, flood limits lifted) and has its
own database on one throw-away PostgreSQL; the full bot runs under supervisord beside the other
three services, as in production. Load is open-loop: at each rate, new users send /start at fixed
due times for --seconds, first to one bot then to the other (the order alternates per rate, so
machine noise lands on both); then, at the same rate, each of those users taps Help on the menu it
got (most real traffic is taps): the bot answers the callback query and edits the menu into the
help screen. A latency runs from the moment the update is handed to the stand-in to the moment the
bot's sendMessage reaches it (for a tap: its editMessageText and answerCallbackQuery, the later).
Per bot, kind and rate: p50/p99, CPU ms of the bot process per update (/proc), and database
transactions per update (pg_stat_database of its own database: a statement outside a transaction
counts one, a transaction block one).
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

from bench.profiling import start_profilers, stop_profilers  # noqa: E402
from sandbox.kit.process import StandInProcess  # noqa: E402
from sandbox.telegram import TelegramControl  # noqa: E402
from sandbox.telegram.control import ControlRequestError  # noqa: E402
from tests.support.postgres import PostgresServer, fresh_database, prepare_template  # noqa: E402
from tests.support.system import System  # noqa: E402

FULL_TOKEN = "123456789:BENCH-capacity-full-bot-token-000000"
MINIMAL_TOKEN = "223456789:BENCH-capacity-minimal-token-00000"
GOAL_MS = 100.0
KINDS = {"start": "/start", "tap": "menu tap"}
# No flood control, and an overloaded step's late answers to taps still accepted (each bot would
# otherwise spend its time on refusals, and the minimal one on their tracebacks).
NO_FLOOD_LIMITS = {"global_rate": 1e6, "global_burst": 1e6, "chat_rate": 1e6, "chat_burst": 1e6,
                   "callback_answer_window": 1e6}


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
        self.seen = {"sendMessage": 0, "editMessageText": 0}  # calls of each already read
        self.menus: list[int] = []  # users who got the menu in the last /start step, not tapped yet

    async def step(self, kind: str, rate: float, seconds: float) -> dict:
        """One open-loop step: `start` sends /start as new users; `tap` has the users of the last
        /start step tap Help on their menu (answerCallbackQuery + editMessageText)."""
        loop = asyncio.get_running_loop()
        count = int(rate * seconds)
        if kind == "start":
            users = list(range(self.next_user, self.next_user + count))
            self.next_user += count
        else:
            users, self.menus = self.menus[:count], self.menus[count:]
        sent: dict[int, float] = {}
        queries: dict[str, int] = {}
        tasks = set()
        cpu0, xact0 = cpu_seconds(self.pid), await transactions(self.url)
        start = loop.time()
        for n, user in enumerate(users):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            sent[user] = time.time()
            task = asyncio.create_task(self._send(kind, user, queries))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        answered = await self._answers(kind, sent, queries)
        if kind == "start":
            self.menus += [u for u in users if u in answered]
        # Settle before reading the counters: the stats collector flushes within a second.
        await asyncio.sleep(1.2)
        cpu1, xact1 = cpu_seconds(self.pid), await transactions(self.url)
        latencies = [(answered[u] - sent[u]) * 1000 for u in answered]
        n = max(len(sent), 1)
        return {"sent": len(sent), "answered": len(answered),
                "p50": percentile(latencies, 0.5) if latencies else float("inf"),
                "p99": percentile(latencies, 0.99) if sent and len(answered) == len(sent) else float("inf"),
                "cpu_ms": (cpu1 - cpu0) * 1000 / n, "xacts": (xact1 - xact0 - 2) / n}

    async def _send(self, kind: str, user: int, queries: dict[str, int]) -> None:
        if kind == "start":
            await self.control.user_message(user, "/start", first_name="Bench", language_code="en")
        else:
            try:
                tapped = await self.control.tap(user, data="m:help")
            except ControlRequestError:
                return  # no menu to tap (the /start got a notice instead): counted as unanswered
            queries[tapped["callback_query_id"]] = user

    async def _answers(self, kind: str, sent: dict[int, float], queries: dict[str, int]) -> dict[int, float]:
        """When each user saw the answer: the menu message for /start; for a tap, both the edited
        message and the answered query (the spinner stops), whichever came later."""
        method = "sendMessage" if kind == "start" else "editMessageText"
        shown: dict[int, float] = {}
        spun: dict[int, float] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for call in (await self.control.calls(method))[self.seen[method]:]:
                chat = int(call["params"].get("chat_id", 0))
                # The screen asked for (it has buttons), not a "busy, try again" notice.
                if chat in sent and chat not in shown and call["params"].get("reply_markup"):
                    shown[chat] = call["time"]
            if kind == "tap":
                for query in await self.control.callback_queries():
                    user = queries.get(query["id"])
                    if user is not None and query["answers"]:
                        spun[user] = query["answers"][0]["time"]
            if len(shown) == len(sent) and (kind == "start" or len(spun) == len(sent)):
                break
            await asyncio.sleep(0.2)  # a bench reading another process's log, not a test
        self.seen[method] = len(await self.control.calls(method))
        if kind == "start":
            return shown
        return {u: max(shown[u], spun[u]) for u in shown if u in spun}


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
            for kind in KINDS:
                await target.step(kind, args.rates[0], 2)
        print(f"open-loop /start, then a menu tap (Help) by each of those users, {args.seconds:.0f} s per rate, "
              f"kind and bot; p99 goal {GOAL_MS:.0f} ms")
        print(f"{'rate/s':>7} {'kind':6} {'bot':12} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/upd':>11}"
              f" {'xact/upd':>9}")
        profilers = start_profilers(args.profile, [(t.name, t.pid) for t in targets])
        held = {(t.name, k): 0.0 for t in targets for k in KINDS}
        per_update: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in held}
        for i, rate in enumerate(args.rates):
            order = targets if i % 2 == 0 else targets[::-1]
            for kind in KINDS:
                for target in order:
                    r = await target.step(kind, rate, args.seconds)
                    print(f"{rate:>7.0f} {kind:6} {target.name:12} {r['answered']:>5}/{r['sent']:<4}{r['p50']:>7.1f}"
                          f" {r['p99']:>8.1f} {r['cpu_ms']:>11.2f} {r['xacts']:>9.2f}", flush=True)
                    per_update[target.name, kind].append((r["cpu_ms"], r["xacts"]))
                    if r["p99"] <= GOAL_MS:
                        held[target.name, kind] = max(held[target.name, kind], rate)
        stop_profilers(profilers)
        full, minimal_name = targets[0].name, targets[1].name
        print()
        print(f"{'':34}{'full bot':>10}{'minimal':>10}{'full/minimal':>14}")
        met = True
        for kind in KINDS:
            cpu = {n: min(c for c, _ in per_update[n, kind]) for n in (full, minimal_name)}
            xacts = {n: min(x for _, x in per_update[n, kind]) for n in (full, minimal_name)}
            ratio = held[full, kind] / held[minimal_name, kind] if held[minimal_name, kind] else float("nan")
            met = met and ratio >= 0.8
            print(f"{KINDS[kind] + ': rate at p99<=100ms':34}{held[full, kind]:>10.0f}{held[minimal_name, kind]:>10.0f}"
                  f"{ratio:>14.2f}")
            print(f"{KINDS[kind] + ': CPU ms per update':34}{cpu[full]:>10.2f}{cpu[minimal_name]:>10.2f}"
                  f"{cpu[full] / cpu[minimal_name]:>14.2f}")
            print(f"{KINDS[kind] + ': DB transactions/update':34}{xacts[full]:>10.2f}{xacts[minimal_name]:>10.2f}")
        print(f"goal: full >= 0.8 x minimal for /start and for taps: {'met' if met else 'NOT met'}")
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
    parser.add_argument("--profile", type=Path, help="folder for py-spy's samples of each bot while measured")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
