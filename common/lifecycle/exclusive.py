"""One process per endpoint (and per bot token): an flock'd file in the run dir, holding the PID.

A second `python -m services.bot` would otherwise re-bind the first one's ipc:// socket (ZeroMQ
unlinks the path) and leave it deaf to RPC, or long-poll Telegram beside it. The kernel drops an
flock when its holder dies, so a restart after kill -9 is never blocked by a stale file; the
files stay in the run dir, which `atcs down` removes.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from pathlib import Path

from common.ipc.endpoints import private_dir


class AlreadyRunning(Exception):
    """Another live process holds the lock; the message is one line naming its PID."""


class ExclusiveLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        # The file is left in place: unlinking it would let a third process lock a new inode
        # while a second still waits on the old one.
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def hold(path: Path, what: str) -> ExclusiveLock:
    """Takes the lock at `path` or raises AlreadyRunning naming the holder; `what` says what is
    guarded, in words fit for an operator (never a secret)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            os.close(fd)
            raise
        holder = _holder_pid(fd)
        os.close(fd)
        raise AlreadyRunning(f"{what} is already taken by pid {holder} (lock {path}); "
                             "not starting a second instance") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return ExclusiveLock(path, fd)


def lock_name(kind: str, key: str) -> str:
    """A file name for a lock keyed by any string (an endpoint, a token): a digest, so that a
    secret never appears in a file name, and two keys never share a file."""
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"


def endpoint_lock(endpoint: str, run_dir: Path) -> Path:
    """The lock of an RPC endpoint: beside an ipc:// socket, or in the run dir for tcp://."""
    if endpoint.startswith("ipc://"):
        return Path(endpoint[len("ipc://"):] + ".lock")
    return run_dir / lock_name("endpoint", endpoint)


def _holder_pid(fd: int) -> str:
    # The holder writes its PID just after taking the lock: give it a moment to do so.
    deadline = time.monotonic() + 1.0
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit() or time.monotonic() > deadline:
            return text or "unknown"
        time.sleep(0.02)
