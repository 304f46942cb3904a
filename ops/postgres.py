"""The `postgres` program: the embedded server under supervisord, stopped after the services.

`supervisorctl stop all` does not stop programs in reverse priority: supervisord's stopAllProcesses
signals every running program at once, lowest priority first (supervisor issue #217; only its own
shutdown stops groups one by one in reverse priority, waiting for each). PostgreSQL, at priority
10, was then gone while the services still drained ("the database system is shutting down").
So this program does not exec the server: it keeps it as a child and, on its stop signal, first
waits for every other program supervisord is stopping, then stops the server (fast shutdown).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client

from supervisor import childutils

from common.settings.base import ConfigError
from common.settings.database import DatabaseSettings
from common.db import embedded

# Longer than the services' stopwaitsecs (15 s), after which supervisord has killed them anyway;
# below this program's own stopwaitsecs (45 s), so the server still gets its fast shutdown.
PEERS_WAIT = 20.0
_PR_SET_PDEATHSIG = 1


class _StopRequested(Exception):
    pass


def _on_stop(signum: int, frame: object) -> None:
    raise _StopRequested


def _server_preexec(account):
    become = embedded.demote(account)
    parent = os.getpid()

    def prepare_child() -> None:
        if become is not None:
            become()
        # If this program is killed outright, the server shuts down instead of holding the port
        # and the data directory against the next start (set after the uid change, which clears it).
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGINT)
    return prepare_child


def peers_stopping() -> list[str]:
    """Names of the other programs supervisord is stopping now; [] when it is not reachable or is
    shutting down (then it stops its groups in reverse priority itself, this one last)."""
    if "SUPERVISOR_SERVER_URL" not in os.environ:
        return []
    me = os.environ.get("SUPERVISOR_PROCESS_NAME")
    try:
        infos = childutils.getRPCInterface(os.environ).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Fault):
        return []
    return [f"{info['group']}:{info['name']}" for info in infos
            if info["statename"] == "STOPPING" and info["name"] != me]


def _wait_for_peers() -> None:
    deadline = time.monotonic() + PEERS_WAIT
    waiting = peers_stopping()
    if waiting:
        print(f"postgres: stopping after {', '.join(waiting)}", flush=True)
    while waiting and time.monotonic() < deadline:
        time.sleep(0.1)  # polling supervisord for other processes' states
        waiting = peers_stopping()
    if waiting:
        print(f"postgres: stopping although {', '.join(waiting)} still run", flush=True)


def main() -> int:
    try:
        settings = DatabaseSettings()
    except Exception as exc:  # noqa: BLE001 - one clear line, as every config error
        print(f"invalid configuration: {ConfigError(str(exc))}", file=sys.stderr)
        return 2
    socket.setdefaulttimeout(5)  # a supervisord that does not answer must not hold the stop
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    data_dir = settings.embedded_pg_dir.resolve()
    try:
        account = embedded.prepare(data_dir, settings.embedded_pg_passfile.resolve())
        server = subprocess.Popen(embedded.server_command(data_dir, settings.embedded_pg_port),
                                  preexec_fn=_server_preexec(account))
    except _StopRequested:
        return 0
    try:
        return server.wait()
    except _StopRequested:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _wait_for_peers()
    server.send_signal(signal.SIGINT)  # fast shutdown: sessions end, a clean checkpoint
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
