"""The run dir of the ipc:// sockets (/tmp/atcs-<uid>-<hash> of this checkout by default) is removed
when the system stops, and a stale one (left by a crash) before it starts.

Only when nothing uses it: every socket in it must refuse a connection (no process listens), and
no lock file in it may be held. Only sockets and lock files are removed; anything else found in
the folder keeps it where it is.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
from pathlib import Path

from common.settings.ipc import IpcSettings, SERVICES

LOCK_SUFFIX = ".lock"


def remove_if_unused(settings: IpcSettings) -> tuple[Path, str]:
    """Removes the run dir's sockets and lock files and the folder itself when none is in use;
    returns the folder and what happened to it (for the operator)."""
    folder = settings.resolved_run_dir()
    ours: list[Path] = []
    if folder.is_dir() and not folder.is_symlink():
        ours += [entry for entry in folder.iterdir() if entry.is_socket() or entry.name.endswith(LOCK_SUFFIX)]
    # An ipc:// endpoint set outside the run dir: its socket and the lock file beside it.
    for service in SERVICES:
        endpoint = settings.endpoint(service)
        if endpoint.startswith("ipc://"):
            socket_path = Path(endpoint[len("ipc://"):])
            lock_path = socket_path.with_name(socket_path.name + LOCK_SUFFIX)
            ours += [p for p in (socket_path, lock_path) if p not in ours and (p.is_socket() or p.is_file())]
    live = [path for path in ours if (_listening(path) if path.is_socket() else _lock_held(path))]
    if live:
        return folder, f"kept: in use ({', '.join(p.name for p in live)})"
    for path in ours:
        path.unlink(missing_ok=True)
    if not folder.exists():
        return folder, "absent"
    try:
        folder.rmdir()
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return folder, "kept: it holds other files"
        raise
    return folder, "removed"


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:  # cannot tell (no permission, timeout): assume someone is there
        return True
    finally:
        probe.close()
    return True


def _lock_held(path: Path) -> bool:
    """Whether a process holds a lock on `path`, flock(2) or fcntl(2) style."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return True
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        for take in (fcntl.flock, fcntl.lockf):
            try:
                take(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
        return False
    finally:
        os.close(fd)
