"""Issue 10.4: the check every whole-process test ends with (tests/support/service_logs.py)."""
from __future__ import annotations

import pytest

from tests.support.service_logs import assert_no_unsupervised_failure, unsupervised_failures

CLEAN = '{"level":"info","service":"bot","event":"service started"}\n'
NEVER_RETRIEVED = ('{"level":"error","service":"payments","logger":"asyncio","event":"Task exception was never '
                   'retrieved","exception":"Traceback (most recent call last):\\n ... RpcError: unavailable"}')
DESTROYED = "Task was destroyed but it is pending!"
NEVER_AWAITED = "sys:1: RuntimeWarning: coroutine 'Worker.run' was never awaited"
TRACEBACK = "Traceback (most recent call last):"
EXPECTED = '{"level":"error","event":"rpc handler failed","exception":"Traceback (most recent call last):\\n boom"}'


@pytest.mark.parametrize("line", [NEVER_RETRIEVED, DESTROYED, NEVER_AWAITED, TRACEBACK, EXPECTED])
def test_each_kind_of_unsupervised_failure_is_found(line: str) -> None:
    assert unsupervised_failures(CLEAN + line + "\n" + CLEAN) == [line]


def test_a_clean_log_passes_and_an_allowed_line_is_excused() -> None:
    assert_no_unsupervised_failure({"bot.log": CLEAN * 3})
    assert_no_unsupervised_failure({"bot.log": CLEAN + EXPECTED}, allow=[r'"event":"rpc handler failed"'])


def test_the_failure_names_the_log_and_quotes_only_what_is_not_allowed() -> None:
    logs = {"payments.log": CLEAN + NEVER_RETRIEVED, "bot.log": EXPECTED + "\n" + DESTROYED}
    with pytest.raises(AssertionError) as failure:
        assert_no_unsupervised_failure(logs, allow=[r'"event":"rpc handler failed"'])
    message = str(failure.value)
    assert "payments.log: " + NEVER_RETRIEVED[:100] in message
    assert "bot.log: " + DESTROYED in message
    assert "rpc handler failed" not in message
