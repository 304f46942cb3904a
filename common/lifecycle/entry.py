"""`python -m services.<name>` lands here first.

A SIGTERM that arrives while the interpreter is still importing (a stop right after a start,
or a loaded machine) must not kill the process mid-import with a signal exit: it is recorded
here, before anything heavy is imported, and honoured by the runner as soon as it is up.
"""
from __future__ import annotations

import importlib
import signal
import threading

stop_requested = threading.Event()


def _record(signum: int, frame: object) -> None:
    stop_requested.set()


def main(service: str) -> None:
    signal.signal(signal.SIGTERM, _record)
    signal.signal(signal.SIGINT, _record)
    from common.lifecycle.runner import run_service
    setup = importlib.import_module(f"services.{service}.app").setup
    run_service(service, setup)
