"""`atcs up / down / status`: supervisord with supervisord.conf, plus the optional programs.

The embedded database runs only without ATCS_DATABASE_URL, the demo sandbox only without
ATCS_BOT_TOKEN; their program sections are written into var/run/supervisord.d/ (included by
supervisord.conf) so that supervisorctl shows and manages them like the rest.

`atcs up` brings every program to RUNNING whatever state it finds: supervisord not running (it is
started), running with a changed configuration (the changed groups are replaced, as `supervisorctl
update` does), programs stopped, exited or FATAL (they are started again). When a program does not
get there in time it names it, its state and the last lines of its log, and exits 1.

RUNNING is not yet answering: the bot needs seconds after it to load aiogram and reach Telegram.
So `atcs up` then waits, within the same --timeout, for the bot (when it runs here) to say /readyz,
and returns when the shop answers: a newcomer who writes the moment it returns is answered at once.
A bot still not ready then is named with its reasons (it keeps trying by itself). Only the bot:
another service can be rightly not ready for long (a standby scheduler, a panel down).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections import deque
from pathlib import Path

from supervisor.xmlrpc import Faults, SupervisorTransport

from common.paths import REPO_ROOT
from common.settings.base import ConfigError
from common.settings.ipc import IpcSettings
from ops.all_settings import LaunchSettings
from common.db import embedded
from ops import demo, private_files, run_dir

CONF = REPO_ROOT / "supervisord.conf"
VAR = REPO_ROOT / "var"
RUN = VAR / "run"
LOGS = VAR / "log"
INCLUDES = RUN / "supervisord.d"
SOCKET = RUN / "supervisor.sock"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
LOG_TAIL_LINES = 15

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


def write_includes(settings: LaunchSettings) -> None:
    INCLUDES.mkdir(mode=0o700, parents=True, exist_ok=True)
    wanted: dict[str, str] = {}
    fields = {"python": PYTHON, "root": REPO_ROOT, "logs": LOGS}
    if settings.database.embedded:
        wanted["postgres.conf"] = POSTGRES_PROGRAM.format(**fields)
    if demo.enabled(settings):
        wanted["sandbox.conf"] = demo.SANDBOX_PROGRAM.format(**fields)
    for old in INCLUDES.glob("*.conf"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        path = INCLUDES / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _server_gid(settings: LaunchSettings) -> int | None:
    """The group that must pass through var/ to the embedded server's data, if any."""
    if not settings.database.embedded or settings.database.embedded_pg_dir.resolve().parent != VAR.resolve():
        return None
    account = embedded.server_account()
    return None if account is None else account.pw_gid


def up(timeout: float) -> int:
    os.umask(0o077)  # supervisord and everything it starts inherit it (and umask=077 in its conf)
    settings = LaunchSettings.read()
    private_files.make_private(VAR, _server_gid(settings))
    LOGS.mkdir(mode=0o700, exist_ok=True)
    RUN.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ)
    if demo.enabled(settings):
        env.update(demo.environment(settings))
    write_includes(settings)
    deadline = time.monotonic() + timeout
    if _running():
        print("supervisord is running: applying supervisord.conf, starting every program not running")
        problem = _apply_config() or _start_all(deadline)
        if problem:
            print(f"atcs up: {problem}", file=sys.stderr)
            return 1
    else:
        folder, outcome = run_dir.remove_if_unused(settings.ipc)
        if outcome != "absent":
            print(f"stale run dir {folder}: {outcome}")
        subprocess.run([str(Path(sys.executable).parent / "supervisord"), "-c", str(CONF)], env=env, check=True)
    states, restarted = _wait_settled(deadline)
    settled = bool(states) and all(_settled(s) for s in states)
    not_ready = _wait_ready(settings, [s["name"] for s in states], deadline) if settled else {}
    status()
    if demo.enabled(settings):
        print("\n" + demo.banner(settings))
    if settled:
        if not_ready:
            print(f"\natcs up: every program is running; not ready after {timeout:.0f} s (it keeps trying):",
                  file=sys.stderr)
            for service, reasons in not_ready.items():
                print(f"  {service}: {reasons}", file=sys.stderr)
        return 0
    # A program that keeps exiting after startsecs is RUNNING now and then, never FATAL: it is
    # named too, as the likely cause of the others' waiting.
    failing = [s for s in states if not _settled(s) or _name(s) in restarted]
    print(f"\natcs up: not every program is running after {timeout:.0f} s", file=sys.stderr)
    if not states:
        print("  supervisord does not answer: see var/log/supervisord.log", file=sys.stderr)
    for state in failing:
        print(_describe_failure(state, restarted.get(_name(state), 0)), file=sys.stderr)
    return 1


def _apply_config() -> str | None:
    """What `supervisorctl update` does: groups removed from or changed in the configuration are
    stopped (the last to start first) and replaced; new ones are added and start."""
    server = rpc()
    try:
        added, changed, removed = server.supervisor.reloadConfig()[0]
    except xmlrpc.client.Fault as fault:
        return f"supervisord cannot read its configuration: {fault.faultString}"
    priority = {info["group"]: info["group_prio"] for info in server.supervisor.getAllConfigInfo()}
    for group in sorted(removed + changed, key=lambda g: priority.get(g, 999), reverse=True):
        server.supervisor.stopProcessGroup(group)
        server.supervisor.removeProcessGroup(group)
        if group in changed:
            server.supervisor.addProcessGroup(group)
        print(f"{group}: {'updated' if group in changed else 'removed'}")
    for group in added:
        server.supervisor.addProcessGroup(group)
        print(f"{group}: added")
    return None


def _start_all(deadline: float) -> str | None:
    server = rpc()
    # A program still stopping (a `stop all` in progress) can be started only once it has stopped.
    while any(s["statename"] == "STOPPING" for s in server.supervisor.getAllProcessInfo()):
        if time.monotonic() > deadline:
            return "programs are still stopping; try again when `atcs status` shows none STOPPING"
        time.sleep(0.2)  # polling supervisord's state, not synchronising our own work
    for result in server.supervisor.startAllProcesses(False):
        if result["status"] != Faults.SUCCESS:
            print(f"{result['group']}:{result['name']}: {result['description']}", file=sys.stderr)
    return None


def _wait_settled(deadline: float) -> tuple[list[dict], dict[str, int]]:
    """Polls until every program is settled or one is FATAL; also returns how often each program
    was started again meanwhile: one that keeps exiting after startsecs never becomes FATAL."""
    states: list[dict] = []
    starts: dict[str, set[int]] = {}
    while True:
        try:
            states = rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault):
            states = []
        for state in states:
            if state["start"] and state["name"] != "migrate":
                starts.setdefault(_name(state), set()).add(state["start"])
        if states and all(_settled(s) for s in states):
            break
        if any(s["statename"] == "FATAL" for s in states) or time.monotonic() >= deadline:
            break
        time.sleep(0.2)  # polling supervisord's state, not synchronising our own work
    return states, {name: len(seen) - 1 for name, seen in starts.items() if len(seen) > 1}


ANSWERING = ("bot",)  # the services `atcs up` waits to be ready: those that answer people


def _wait_ready(settings: LaunchSettings, programs: list[str], deadline: float) -> dict[str, str]:
    """Polls /readyz of each answering service among `programs` (with a health port) until every
    one is ready or the deadline passes; returns those that are not, each with its reasons."""
    host = settings.health.health_host
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    waiting = {service: "no answer yet" for service in ANSWERING
               if service in programs and settings.health.port(service)}
    local = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy
    while True:
        for service in list(waiting):
            try:
                with local.open(f"http://{host}:{settings.health.port(service)}/readyz", timeout=1) as response:
                    if response.status == 200:
                        del waiting[service]
            except urllib.error.HTTPError as refused:  # 503: not ready, and why
                waiting[service] = _reasons(refused.read())
            except OSError:
                waiting[service] = "no answer yet"
        if not waiting or time.monotonic() >= deadline:
            return waiting
        time.sleep(0.1)  # polling the services' state, not synchronising our own work


def _reasons(body: bytes) -> str:
    try:
        reasons = json.loads(body).get("reasons") or {}
        return "; ".join(f"{name}: {reason}" for name, reason in reasons.items()) or "not ready"
    except (ValueError, AttributeError):
        return "not ready"


def _name(state: dict) -> str:
    return state["name"] if state["group"] == state["name"] else f"{state['group']}:{state['name']}"


def _settled(state: dict) -> bool:
    if state["name"] == "migrate":  # one-shot: done when it has exited 0
        return state["statename"] == "EXITED" and state["exitstatus"] == 0
    return state["statename"] == "RUNNING"


def _describe_failure(state: dict, restarts: int) -> str:
    detail = state["spawnerr"] or state["description"]
    again = f", started again {restarts} time{'s' if restarts > 1 else ''} meanwhile" if restarts else ""
    lines = [f"  {_name(state)}: {state['statename']} ({detail}{again})"]
    for path in dict.fromkeys(p for p in (state.get("stdout_logfile"), state.get("stderr_logfile")) if p):
        tail = _tail(Path(path))
        if tail:
            lines.append(f"    last lines of {path}:")
            lines += [f"      {line}" for line in tail]
    return "\n".join(lines)


def _tail(path: Path, count: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, errors="replace") as log:
            return [line.rstrip("\n")[:400] for line in deque(log, maxlen=count)]
    except OSError:
        return []


# Services drain in stopwaitsecs (15 s), then PostgreSQL gets its 45 s: "down" waits out both.
DOWN_TIMEOUT = 90.0


def down() -> int:
    if not _running():
        print("supervisord is not running")
        _remove_run_dir()
        return 0
    pid = _supervisord_pid()
    rpc().supervisor.shutdown()
    # supervisord leaves the RUNNING state at once but stops its programs for some seconds more;
    # "stopped" means its process is gone, so an `atcs up` right after finds nothing in the way.
    deadline = time.monotonic() + DOWN_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            print("stopped")
            _remove_run_dir()
            return 0
        time.sleep(0.1)
    print(f"supervisord did not stop within {DOWN_TIMEOUT:.0f} s", file=sys.stderr)
    return 1


def _remove_run_dir() -> None:
    try:
        settings = IpcSettings.read()
    except ConfigError as exc:  # stopping must not depend on a configuration one could fix later
        print(f"run dir left in place: {exc}", file=sys.stderr)
        return
    folder, outcome = run_dir.remove_if_unused(settings)
    if outcome.startswith("kept"):
        print(f"run dir {folder} {outcome}")


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
