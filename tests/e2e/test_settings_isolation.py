"""A bad setting stops only the service that reads it (issue 11.2), under the real supervisord.

Each service validates just the sections its settings.py declares: a broken ATCS_VPN_SERVERS is
vpn_gateway's alone, a broken Crypto Pay URL is payments' alone. The owner exits 2 with one line
naming the variable, again at each restart; every other service starts and becomes ready.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from common.paths import REPO_ROOT
from common.settings.ipc import SERVICES
from sandbox.panels.outline.standin import OutlineStandIn
from sandbox.telegram.server import TelegramStandIn
from tests.bot.processes import service_env
from tests.support.system import System
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
TOKEN = "515151:SETTINGS-ISOLATION-TOKEN"
BAD = {
    "vpn_gateway": ("ATCS_VPN_SERVERS", '[{"name": "nl-1", "backend": "outline"'),   # cut-off JSON
    "payments": ("ATCS_CRYPTOPAY_API_URL", "ftp://pay.crypt.bot"),
}


def _ready(system: System, service: str) -> bool:
    try:
        with urllib.request.urlopen(system.health_url(service, "/readyz"), timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _refusals(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.strip()]


@pytest.mark.parametrize("owner", sorted(BAD))
async def test_a_bad_setting_stops_only_its_owner(owner: str, database_url: str) -> None:
    variable, value = BAD[owner]
    outline = OutlineStandIn()
    await outline.start()
    try:
        async with TelegramStandIn(token=TOKEN) as telegram:
            env = {"ATCS_BOT_TOKEN": TOKEN, "ATCS_TELEGRAM_API_URL": telegram.url, "ATCS_POLLING_TIMEOUT": "1",
                   "ATCS_BACKUP_ENABLED": "false",
                   "ATCS_VPN_SERVERS": json.dumps([{"name": "s1", "backend": "outline", "api_url": outline.api_url}])}
            env[variable] = value
            system = System(database_url, extra_env=env)
            try:
                system.launch()
                others = [s for s in SERVICES if s != owner]
                for service in others:
                    await wait_for(lambda: _ready(system, service), timeout=40, message=f"{service} ready")
                pids = {service: system.pid(service) for service in others}

                # It exits before startsecs, so supervisord keeps no exitstatus: its log says it.
                await wait_for(lambda: f"exited: {owner} (exit status 2;" in system.supervisord_log(),
                               timeout=20, message=f"{owner} refused with exit 2")
                lines = set(_refusals(system.log(owner)))
                assert len(lines) == 1, system.log(owner)[-2000:]   # the same single line at each attempt
                line = lines.pop()
                assert line.startswith(f"atcs {owner}: configuration error: {variable} is invalid"), line
                assert not _ready(system, owner)
                # ...and the others were never disturbed by it: each still the process that started.
                assert {service: system.pid(service) for service in others} == pids
                for service in others:
                    assert _ready(system, service) and variable not in system.log(service)
            finally:
                system.shutdown()
                system.cleanup()
    finally:
        await outline.stop()


@pytest.mark.parametrize("owner", sorted(BAD))
def test_each_service_reads_only_what_it_declares(owner: str) -> None:
    """The same bad value against each service started by hand: the owner exits 2 with one line on
    stderr; the others get past their settings (they would start; here they are stopped at the next
    check by a deliberately bad endpoint of their own, so that no database is needed)."""
    variable, value = BAD[owner]
    for service in SERVICES:
        result = subprocess.run(
            [sys.executable, "-m", f"services.{service}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
            env=service_env(**{variable: value, f"ATCS_ENDPOINT_{service.upper()}": "tcp://127.0.0.1:1"}))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1, (service, result.stderr)
        expected = variable if service == owner else f"ATCS_ENDPOINT_{service.upper()}"
        assert expected in lines[0], (service, lines)
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("owner", sorted(BAD))
def test_atcs_config_still_refuses_any_bad_value(owner: str) -> None:
    variable, value = BAD[owner]
    result = subprocess.run([sys.executable, "-m", "ops.cli", "config"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, env=service_env(**{variable: value}))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"atcs: configuration error: {variable} is invalid"), lines
    assert result.stdout == ""
