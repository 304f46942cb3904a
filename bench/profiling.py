"""py-spy (a sampling profiler, if installed) on the processes a benchmark measures: collapsed
stacks in `folder`/<name>.txt, for flamegraph.pl or a grep."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path


def start_profilers(folder: Path | None, targets: list[tuple[str, int]]) -> list[subprocess.Popen]:
    """One py-spy per (name, pid); none when `folder` is None."""
    if folder is None:
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--nonblocking",
                              "-o", str(folder / f"{name.replace(' ', '_')}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in targets]


def stop_profilers(profilers: list[subprocess.Popen]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
    for profiler in profilers:
        profiler.wait(30)
