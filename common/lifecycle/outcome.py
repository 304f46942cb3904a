"""How an owner that does not await a task still handles its outcome.

A task whose exception nobody retrieves is only reported when it is garbage-collected, as
"Task exception was never retrieved", far from its cause and with no context. Owners that keep
tasks in a set and forget them when done (per-request, per-row, per-message tasks) pass this as
part of their done-callback instead: the failure is logged at once, by the owner, with its name.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any


def log_failure(task: asyncio.Task, log: logging.Logger, event: str, **extra: Any) -> None:
    """Retrieves a finished task's exception; logs it (with its traceback: it is a bug) if any."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error(event, exc_info=exc, extra={"task": task.get_name(), **extra})
