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

from common.config import REPO_ROOT, SERVICES
from sandbox.telegram.control import TelegramControl
from tests.support.ports import free_port
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
            "ATCS_RUN_DIR": tempfile.mkdtemp(prefix="u", dir="/tmp"),
        })
        _ENVS[copy] = env
    return _ENVS[copy]


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

    async with aiohttp.ClientSession() as http:
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
    finally:
        await control.close()

    status = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", "supervisord.conf", "status"],
                            cwd=checkout, capture_output=True, text=True, timeout=30, env=env)
    assert "atcs:bot" in status.stdout and "RUNNING" in status.stdout
    down = subprocess.run([sys.executable, "-m", "ops.cli", "down"], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
