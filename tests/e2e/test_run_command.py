"""The README's first command as a newcomer meets it: `atcs up` with no token and no database URL
starts the embedded PostgreSQL, the demo sandbox and every service under supervisord, and the shop
answers in the web chat's Telegram stand-in. Run in a copy of the repository (sharing .venv) with
its own ports, so it never touches a developer's running instance."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest
import zmq.asyncio

from common.paths import REPO_ROOT
from common.settings.ipc import SERVICES
from common.contract.core import STATUS
from common.ipc.client import RpcClient
from ops import demo
from sandbox.telegram.control import TelegramControl
from tests.support.ports import free_port
from tests.support.service_logs import assert_no_unsupervised_failure, read_logs
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
IGNORED = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", ".pytest_cache", "*.egg-info", ".hypothesis")


@pytest.fixture
def checkout():
    folder = Path(tempfile.mkdtemp(prefix="atcs-up-"))
    os.chmod(folder, 0o755)
    copy = folder / "atcs"
    shutil.copytree(REPO_ROOT, copy, ignore=IGNORED)
    (copy / ".venv").symlink_to(REPO_ROOT / ".venv")
    yield copy
    subprocess.run([sys.executable, "-m", "ops.cli", "down"], cwd=copy, capture_output=True, timeout=60,
                   env=_env_of(copy))
    try:
        assert_no_unsupervised_failure(read_logs(copy / "var" / "log"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_ENVS: dict[Path, dict[str, str]] = {}


def _env_of(copy: Path) -> dict[str, str]:
    if copy not in _ENVS:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
        env.update({f"ATCS_HEALTH_PORT_{s.upper()}": str(free_port()) for s in SERVICES})
        env.update({
            "ATCS_EMBEDDED_PG_PORT": str(free_port()),
            "ATCS_PAYMENTS_PORT": str(free_port()),
            "ATCS_SANDBOX_PORT": str(free_port()),
            "ATCS_SANDBOX_CRYPTOPAY_PORT": str(free_port()),
            "ATCS_SANDBOX_OUTLINE_PORT": str(free_port()),
            "ATCS_SANDBOX_REMNAWAVE_PORT": str(free_port()),
            "ATCS_SANDBOX_MARZBAN_PORT": str(free_port()),
            "ATCS_SANDBOX_XUI_PORT": str(free_port()),
            "ATCS_RUN_DIR": tempfile.mkdtemp(prefix="u", dir="/tmp"),
        })
        _ENVS[copy] = env
    return _ENVS[copy]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _key_kind(text: str, env: dict[str, str]) -> str:
    """Which demo panel made the key in a key message (each backend's key has its own shape)."""
    if "vless://" in text:                              # before ss://, which "vless://" contains
        return "3x-ui"                                  # the client's share link
    if "ss://" in text:
        return "outline"
    urls = demo.urls(env)
    for backend in ("marzban", "remnawave"):            # subscription URLs on the panel stand-in
        if f"{urls[backend]}/" in text:
            return backend
    raise AssertionError(f"no demo panel's key in {text!r}")


async def test_atcs_up_runs_the_demo_shop(checkout: Path) -> None:
    env = _env_of(checkout)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ops.cli", "up", "--timeout", "60"], cwd=checkout, env=env,
                            capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 20, f"atcs up took {elapsed:.1f}s"
    for program in ("atcs:bot", "atcs:payments", "atcs:scheduler", "atcs:vpn_gateway", "postgres", "sandbox",
                    "fatal_alerts"):
        assert any(line.startswith(program) and "RUNNING" in line for line in result.stdout.splitlines()), result.stdout
    chat_url = f"http://127.0.0.1:{env['ATCS_SANDBOX_PORT']}/chat"
    assert chat_url in result.stdout
    for panel in ("MARZBAN", "XUI"):      # the startup message names every panel stand-in
        assert f"http://127.0.0.1:{env[f'ATCS_SANDBOX_{panel}_PORT']}" in result.stdout, result.stdout

    async with aiohttp.ClientSession() as http:
        # `atcs up` returns once the bot answers: a newcomer writing at once is not kept waiting
        # while it loads aiogram (its first trial took ~5 s when up returned at RUNNING).
        async with http.get(f"http://127.0.0.1:{env['ATCS_HEALTH_PORT_BOT']}/readyz") as response:
            assert response.status == 200, await response.text()

        async def all_ready() -> bool:
            for service in SERVICES:
                port = env[f"ATCS_HEALTH_PORT_{service.upper()}"]
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status != 200:
                        return False
            return True
        await wait_for(all_ready, timeout=30, message="every service ready")
        async with http.get(chat_url) as response:
            assert response.status == 200 and "<html" in (await response.text()).lower()

    control = TelegramControl(f"http://127.0.0.1:{env['ATCS_SANDBOX_PORT']}")
    try:
        await control.user_message(4242, "/start", first_name="Newcomer", language_code="en")
        reply = await control.wait_for_message(4242, timeout=10)
        assert reply["reply_markup"]["inline_keyboard"], reply

        # vpn_gateway has logged in to and probed every panel stand-in of the demo.
        context = zmq.asyncio.Context()
        gateway = RpcClient(context, f"ipc://{env['ATCS_RUN_DIR']}/vpn_gateway.ipc", default_timeout=2.0,
                            attempt_timeout=0.3)
        try:
            async def four_healthy_panels() -> dict:
                panels = (await gateway.call(STATUS)).details["panels"]
                return panels if len(panels) == 4 and all(p["healthy"] is True for p in panels.values()) else {}
            panels = await wait_for(four_healthy_panels, timeout=20, message="four healthy panels in status")
        finally:
            gateway.close()
            context.destroy(linger=0)
        assert sorted(p["backend"] for p in panels.values()) == ["3x-ui", "marzban", "outline", "remnawave"]

        # Four newcomers take the free trial: least-loaded placement puts one on each panel, and each
        # gets that backend's kind of key.
        kinds = []
        for user_id in range(4301, 4305):
            await control.user_message(user_id, "/start", first_name="Newcomer", language_code="en")
            menu = await control.wait_for_message(user_id, timeout=10)
            await control.tap(user_id, "🎁 Free trial", message_id=menu["message_id"])
            ready = await control.wait_for_message(user_id, lambda m: "Your free trial is ready" in (m["text"] or ""),
                                                   timeout=20, after=menu["message_id"])
            kind = _key_kind(ready["text"], env)
            kinds.append(kind)
            # ...and is told to install the app that opens that kind of key.
            assert ("Outline" if kind == "outline" else "Hiddify") in ready["text"], ready["text"]
        assert sorted(kinds) == ["3x-ui", "marzban", "outline", "remnawave"], kinds
    finally:
        await control.close()

    status = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", "supervisord.conf", "status"],
                            cwd=checkout, capture_output=True, text=True, timeout=30, env=env)
    assert "atcs:bot" in status.stdout and "RUNNING" in status.stdout
    pids = []
    for target in ([], ["all"]):          # supervisord's own pid, then every program's
        listed = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", "supervisord.conf", "pid",
                                 *target], cwd=checkout, capture_output=True, text=True, timeout=30, env=env)
        pids += [int(word) for word in listed.stdout.split() if word.isdigit() and int(word) > 0]
    assert len(pids) >= 7, pids
    down = subprocess.run([sys.executable, "-m", "ops.cli", "down"], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    # "stopped" means stopped: nothing of the run is left to collide with the next `atcs up`.
    assert [pid for pid in pids if _alive(pid)] == [], down.stdout


def _atcs(checkout: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=checkout, env=_env_of(checkout),
                          capture_output=True, text=True, timeout=timeout)


def _ctl(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", "supervisord.conf", *args],
                          cwd=checkout, env=_env_of(checkout), capture_output=True, text=True, timeout=120)


def _all_running(output: str) -> bool:
    lines = [line for line in output.splitlines() if line[:1].isalpha() and not line.startswith("Demo")]
    states = {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1}
    expected = {"atcs:bot", "atcs:payments", "atcs:scheduler", "atcs:vpn_gateway", "postgres", "sandbox",
                "fatal_alerts"}
    return expected <= set(states) and all(states[p] == "RUNNING" for p in expected) and \
        states.get("migrate") == "EXITED"


class _Logs:
    """What the programs wrote to var/log since a mark."""

    def __init__(self, checkout: Path) -> None:
        self.folder = checkout / "var" / "log"
        self.marks = {path.name: path.stat().st_size for path in self.folder.glob("*.log")}

    def since(self, name: str) -> str:
        path = self.folder / name
        with open(path, "rb") as log:
            log.seek(self.marks.get(name, 0))
            return log.read().decode(errors="replace")


def _stopped_order(supervisord_log: str) -> list[str]:
    return [line.split("stopped: ", 1)[1].split(" ", 1)[0] for line in supervisord_log.splitlines()
            if " stopped: " in line]


def test_atcs_up_brings_every_program_back_whatever_their_state(checkout: Path) -> None:
    """Seen in the field: after `supervisorctl stop all`, `atcs up` left everything STOPPED and
    exited 1 after 60 s with no hint; and `stop all` stopped PostgreSQL before the services."""
    first = _atcs(checkout, "up", "--timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr

    # `stop all`: the database stops last, after every service has drained; the listener exits 0.
    logs = _Logs(checkout)
    stop = _ctl(checkout, "stop", "all")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    events = logs.since("supervisord.log")
    order = _stopped_order(events)
    assert set(order) >= {"bot", "payments", "scheduler", "vpn_gateway", "postgres", "fatal_alerts"}, events
    assert order.index("postgres") > max(order.index(s) for s in SERVICES), events
    assert "stopped: fatal_alerts (exit status 0)" in events, events
    for service in SERVICES:
        drained = logs.since(f"{service}.log")
        assert "the database system is shutting down" not in drained, f"{service}:\n{drained[-3000:]}"
        assert "terminating connection due to administrator command" not in drained, f"{service}:\n{drained[-3000:]}"

    # Everything stopped: `atcs up` starts it all again, within 20 s.
    started = time.monotonic()
    again = _atcs(checkout, "up", "--timeout", "60")
    elapsed = time.monotonic() - started
    assert again.returncode == 0, again.stdout + again.stderr
    assert _all_running(again.stdout), again.stdout
    assert elapsed < 20, f"atcs up after stop all took {elapsed:.1f}s"

    # Some programs stopped and the configuration changed: both applied.
    assert _ctl(checkout, "stop", "atcs:bot", "fatal_alerts").returncode == 0
    conf = checkout / "supervisord.conf"
    text = conf.read_text()
    bot = text.index("[program:bot]")
    conf.write_text(text[:bot] + text[bot:].replace("stopwaitsecs=15", "stopwaitsecs=16", 1))
    changed = _atcs(checkout, "up", "--timeout", "60")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert _all_running(changed.stdout), changed.stdout
    assert "atcs: updated" in changed.stdout, changed.stdout

    # A program that cannot start: `atcs up` says which, why (its log) and exits 1; fixed, it starts.
    assert _ctl(checkout, "stop", "all").returncode == 0
    settings = checkout / "var" / "pgdata" / "postgresql.auto.conf"
    good = settings.read_text()
    settings.write_text(good + "shared_buffers = 'plenty'\n")
    broken = _atcs(checkout, "up", "--timeout", "30")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "  postgres: " in broken.stderr, broken.stderr
    assert 'invalid value for parameter "shared_buffers": "plenty"' in broken.stderr, broken.stderr
    settings.write_text(good)
    fixed = _atcs(checkout, "up", "--timeout", "60")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert _all_running(fixed.stdout), fixed.stdout
