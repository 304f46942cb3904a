"""`atcs host-keys` / `atcs host-config`: one host's supervisord.conf of a several-host shop, as
supervisord itself reads it."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from common.paths import REPO_ROOT
from common.settings.ipc import IpcSettings
from common.ipc.endpoints import check_endpoints
from common.settings.ipc import SERVICES


def _atcs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)


def _programs(conf: Path) -> dict[str, dict[str, str]]:
    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    return {p.name: dict(p.environment or {}) for g in options.process_group_configs for p in g.process_configs}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "var" / "log").mkdir(parents=True)
    (checkout / "var" / "run" / "supervisord.d").mkdir(parents=True)
    return checkout


def test_each_host_gets_its_role_and_every_endpoint_its_own_first(tmp_path: Path, root: Path) -> None:
    keys = tmp_path / "keys.env"
    made = _atcs("host-keys", "--out", str(keys))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert "SECRET" not in made.stdout
    hosts = "a=10.0.0.1:full,b=10.0.0.2:full,c=10.0.0.3:back"
    envs = {}
    for host in ("a", "b", "c"):
        written = _atcs("host-config", "--hosts", hosts, "--host", host, "--keys", str(keys),
                        "--out", str(tmp_path / host), "--root", str(root))
        assert written.returncode == 0, written.stderr
        conf = tmp_path / host / "supervisord.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        programs = _programs(conf)
        envs[host] = programs["migrate"]
        expected = set(SERVICES) if host != "c" else {"scheduler", "vpn_gateway"}
        assert {name for name in programs if name in SERVICES} == expected
    assert envs["a"]["ATCS_ENDPOINT_PAYMENTS"] == "tcp://10.0.0.1:7301,tcp://10.0.0.2:7301"
    assert envs["b"]["ATCS_ENDPOINT_PAYMENTS"] == "tcp://10.0.0.2:7301,tcp://10.0.0.1:7301"
    assert envs["c"]["ATCS_ENDPOINT_VPN_GATEWAY"] == "tcp://10.0.0.3:7303,tcp://10.0.0.1:7303,tcp://10.0.0.2:7303"
    # The keys arrive intact (a Z85 key may hold a '%', which supervisord would expand) and the
    # services accept what was written: every endpoint is tcp:// with the keys each side needs.
    written_keys = dict(line.split("=", 1) for line in keys.read_text().splitlines())
    for host, env in envs.items():
        for name, value in written_keys.items():
            assert env[name] == value
        settings = IpcSettings(**{k[len("ATCS_"):].lower(): v for k, v in env.items() if k.startswith("ATCS_")})
        for service in ("scheduler", "vpn_gateway"):
            assert check_endpoints(settings, service, SERVICES) == settings.endpoints(service)[0]


def test_bad_host_lists_are_refused_in_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.env"
    assert _atcs("host-keys", "--out", str(keys)).returncode == 0
    again = _atcs("host-keys", "--out", str(keys))
    assert again.returncode == 2 and "exists" in again.stderr
    for hosts, host, words in (("a=10.0.0.1:huge", "a", "role 'huge'"),
                               ("a=10.0.0.1:front", "a", "no host runs scheduler"),
                               ("a=10.0.0.1,b=10.0.0.2", "z", "'z' is not in --hosts")):
        refused = _atcs("host-config", "--hosts", hosts, "--host", host, "--keys", str(keys), "--out", str(tmp_path))
        assert refused.returncode == 2, refused.stdout
        assert words in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
