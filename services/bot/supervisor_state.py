"""supervisord's view of the programs, read over its XML-RPC interface on the unix socket.

xmlrpc.client is blocking, so the call runs in a worker thread, bounded twice: the socket has
its own timeout (the thread ends by itself) and the caller stops waiting at the same deadline.
"""
from __future__ import annotations

import asyncio
import socket
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection


@dataclass(frozen=True)
class ProcessInfo:
    name: str            # group:name, as supervisorctl shows it
    state: str           # RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ...
    description: str     # supervisord's own summary: "pid 123, uptime 1:02:03", "Exited too quickly"


class SupervisorUnreachable(Exception):
    """supervisord did not answer (not running, no socket, no permission, too slow)."""


class _TimedUnixConnection(UnixStreamHTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost")
        self.socketfile = path
        self.timeout_seconds = timeout

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout_seconds)
        self.sock.connect(self.socketfile)


def read_processes(path: Path, timeout: float) -> list[ProcessInfo]:
    """Blocking: getAllProcessInfo over the socket at `path`."""
    transport = SupervisorTransport(None, None, f"unix://{path}")
    transport._get_connection = lambda: _TimedUnixConnection(str(path), timeout)  # adds a socket timeout
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    try:
        infos = proxy.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error) as exc:
        raise SupervisorUnreachable(type(exc).__name__ + (f": {exc.strerror}" if getattr(exc, "strerror", None)
                                                          else "")) from None
    finally:
        transport.close()
    shown = []
    for info in infos:
        group, name = info.get("group", ""), info.get("name", "?")
        full = name if not group or group == name else f"{group}:{name}"
        shown.append(ProcessInfo(full, str(info.get("statename", "?")), str(info.get("description", ""))))
    return sorted(shown, key=lambda p: p.name)


async def supervisor_processes(path: Path, timeout: float) -> list[ProcessInfo]:
    """Raises SupervisorUnreachable when supervisord does not answer within `timeout`."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read_processes, path, timeout), timeout + 0.5)
    except TimeoutError:
        raise SupervisorUnreachable("no answer in time") from None
