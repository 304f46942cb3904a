"""The benchmarks run, at a tiny size, so that they cannot rot between the runs that matter.
Only that they complete and print their figures is checked: their numbers are for people."""
from __future__ import annotations

import subprocess
import sys

import pytest

from common.paths import REPO_ROOT

pytestmark = pytest.mark.e2e


def _bench(*args: str, timeout: float) -> str:
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_capacity_bench_compares_the_bot_with_the_minimal_bot() -> None:
    out = _bench("bench/bench_capacity.py", "--rates", "5", "--seconds", "1", timeout=240)
    assert "/start: rate at p99<=100ms" in out and "menu tap: CPU ms per update" in out, out
    rows = [line for line in out.splitlines() if line.strip().startswith("5 ")]
    # each bot answered every /start, and every tap with an edit and an answered query
    assert len(rows) == 4 and all("5/5" in row for row in rows), out
    assert {row.split()[1] for row in rows} == {"start", "tap"}, out


def test_rpc_bench_prints_the_ratio_to_raw_zeromq() -> None:
    out = _bench("bench/bench_rpc.py", "--requests", "200", "--rounds", "2", timeout=120)
    assert "ratio atcs/raw" in out, out


def test_paid_broadcast_bench_prints_the_ratio_to_the_free_pace() -> None:
    out = _bench("bench/bench_paid_broadcast.py", "--recipients", "200", "--free-recipients", "50", timeout=240)
    assert "ratio free/paid time" in out and "billed:" in out, out


def test_webhook_bench_counts_settlements_confirmed_by_crypto_pay() -> None:
    out = _bench("bench/bench_webhook.py", "--rate", "50", "--seconds", "1", "--warmup", "1", "--saturate", "1",
                 timeout=240)
    assert "claims confirmed and settled per second" in out and "ratio payments / bare" in out, out
    assert "0 still pending" in out and "WARNING" not in out, out
