"""Issue 10.4: no unsupervised failure. Every test that runs whole service processes (a System
under supervisord, or `python -m services.<name>` started by a helper) ends by reading their logs
with `assert_no_unsupervised_failure`: a task whose exception nobody retrieved, a task destroyed
while pending, a coroutine never awaited or any traceback fails the test, quoting the lines.

A test that provokes a traceback on purpose names it with an allow-list entry: a regular
expression matched against the offending line, with the reason beside it in the test.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

UNSUPERVISED = re.compile(
    r"Task exception was never retrieved"
    r"|Task was destroyed but it is pending"
    r"|was never awaited"
    r"|Traceback \(most recent call last\)")
QUOTED = 600       # characters of one offending line in the failure message
SHOWN = 20         # offending lines quoted at most


def unsupervised_failures(text: str, allow: Iterable[str | re.Pattern[str]] = ()) -> list[str]:
    """The lines of a log that show an unsupervised failure and no allow-list entry excuses."""
    excuses = [re.compile(a) if isinstance(a, str) else a for a in allow]
    found = []
    for line in text.splitlines():
        if UNSUPERVISED.search(line) and not any(e.search(line) for e in excuses):
            found.append(line)
    return found


def assert_no_unsupervised_failure(logs: Mapping[str, str], allow: Iterable[str | re.Pattern[str]] = ()) -> None:
    """`logs`: log name -> its text. Fails naming each log and quoting its offending lines."""
    allow = list(allow)
    report = []
    for name, text in sorted(logs.items()):
        lines = unsupervised_failures(text, allow)
        report += [f"  {name}: {line[:QUOTED]}" for line in lines]
    if report:
        shown = report[:SHOWN] + ([f"  ... and {len(report) - SHOWN} more"] if len(report) > SHOWN else [])
        raise AssertionError(
            "unsupervised failure in a service log (a task nobody owns, or an unexpected traceback); "
            "if the test provokes it on purpose, allow it explicitly:\n" + "\n".join(shown))


def assert_log_clean(path: Path, allow: Iterable[str | re.Pattern[str]] = ()) -> None:
    """The same check for one process's log file (a service a test started by itself)."""
    text = path.read_text(errors="replace") if path.exists() else ""
    assert_no_unsupervised_failure({path.name: text}, allow)


def read_logs(folder: Path, names: Iterable[str] | None = None) -> dict[str, str]:
    """The *.log files of a folder (or the named ones), by file name."""
    paths = sorted(folder.glob("*.log")) if names is None else [folder / f"{n}.log" for n in names]
    return {p.name: p.read_text(errors="replace") for p in paths if p.exists()}
