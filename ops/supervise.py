"""`atcs up / down / status`: supervisord with supervisord.conf, plus the optional programs.

The embedded database runs only without ATCS_DATABASE_URL, the demo sandbox only without
ATCS_BOT_TOKEN; their program sections are written into var/run/supervisord.d/ (included by
supervisord.conf) so that supervisorctl shows and manages them like the rest.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from common.config import REPO_ROOT, Settings
from ops import demo

CONF = REPO_ROOT / "supervisord.conf"
RUN = REPO_ROOT / "var" / "run"
LOGS = REPO_ROOT / "var" / "log"
INCLUDES = RUN / "supervisord.d"
SOCKET = RUN / "supervisor.sock"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"

# stopasgroup=false: the stop signal goes to ops.postgres alone, which stops the server once the
# services are down (see there); killasgroup=true: a SIGKILL after stopwaitsecs still takes both.
POSTGRES_PROGRAM = """[program:postgres]
command={python} -m ops.postgres
directory={root}
priority=10
autostart=true
autorestart=true
startsecs=2
stopsignal=TERM
stopwaitsecs=45
stopasgroup=false
killasgroup=true
stdout_logfile={logs}/postgres.log
redirect_stderr=true
"""


def rpc() -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{SOCKET}"))


def _running() -> bool:
    try:
        return rpc().supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Fault):
        return False


def write_includes(settings: Settings) -> None:
    INCLUDES.mkdir(parents=True, exist_ok=True)
    for old in INCLUDES.glob("*.conf"):
        old.unlink()
    fields = {"python": PYTHON, "root": REPO_ROOT, "logs": LOGS}
    if settings.database.embedded:
        (INCLUDES / "postgres.conf").write_text(POSTGRES_PROGRAM.format(**fields))
    if demo.enabled(settings):
        (INCLUDES / "sandbox.conf").write_text(demo.SANDBOX_PROGRAM.format(**fields))


def up(timeout: float) -> int:
    settings = Settings()
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if demo.enabled(settings):
        env.update(demo.environment(settings))
    write_includes(settings)
    if _running():
        print("supervisord is already running; applying changes")
        subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(CONF), "update"], check=False)
    else:
        subprocess.run([str(Path(sys.executable).parent / "supervisord"), "-c", str(CONF)], env=env, check=True)
    deadline = time.monotonic() + timeout
    states: list[dict] = []
    while time.monotonic() < deadline:
        try:
            states = rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault):
            states = []
        if states and all(_settled(s) for s in states):
            break
        if any(s["statename"] == "FATAL" for s in states):
            break
        time.sleep(0.2)  # polling supervisord's state, not synchronising our own work
    status()
    if demo.enabled(settings):
        print("\n" + demo.banner(settings))
    return 0 if states and all(_settled(s) for s in states) else 1


def _settled(state: dict) -> bool:
    if state["name"] == "migrate":  # one-shot: done when it has exited 0
        return state["statename"] == "EXITED" and state["exitstatus"] == 0
    return state["statename"] == "RUNNING"


# Services drain in stopwaitsecs (15 s), then PostgreSQL gets its 45 s: "down" waits out both.
DOWN_TIMEOUT = 90.0


def down() -> int:
    if not _running():
        print("supervisord is not running")
        return 0
    pid = _supervisord_pid()
    rpc().supervisor.shutdown()
    # supervisord leaves the RUNNING state at once but stops its programs for some seconds more;
    # "stopped" means its process is gone, so an `atcs up` right after finds nothing in the way.
    deadline = time.monotonic() + DOWN_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            print("stopped")
            return 0
        time.sleep(0.1)
    print(f"supervisord did not stop within {DOWN_TIMEOUT:.0f} s", file=sys.stderr)
    return 1


def _supervisord_pid() -> int | None:
    try:
        return rpc().supervisor.getPID()
    except (OSError, xmlrpc.client.Fault):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:   # no pid to watch: fall back to its control socket answering
        try:
            rpc().supervisor.getState()
            return True
        except (OSError, xmlrpc.client.Fault):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status() -> int:
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(CONF), "status"]).returncode
