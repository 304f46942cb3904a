"""No token or VPN key reaches a log line, wherever in the record it is: the message, an `extra=` field
(where an exception's text usually goes), a nested value, or the traceback."""
from __future__ import annotations

import io
import logging

import orjson
import pytest

import common.logging
from common.logging import register_secret, setup_logging

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
VLESS_KEY = "vless://0b7c3f0e-1111-2222-3333-444455556666@vpn.example:443?security=reality#atcs"
SUB_URL = "https://panel.example/sub/YXRjc18xMDAxLDE3MzAwMDAwMDA.abcdef123456"
PANEL_PASSWORD = "s3cret-panel-password"


@pytest.fixture
def log_lines(monkeypatch):
    monkeypatch.setattr(common.logging, "_extra_secrets", [])
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    setup_logging("test", fmt="json")
    written = io.StringIO()
    root.handlers[0].setStream(written)   # the handler setup_logging made, filter and formatter included
    register_secret(PANEL_PASSWORD)

    def read() -> list[dict]:
        return [orjson.loads(line) for line in written.getvalue().splitlines()]
    yield read
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_secrets_are_scrubbed_from_message_extras_and_tracebacks(log_lines) -> None:
    log = logging.getLogger("atcs.test")
    log.warning("calling https://api.telegram.org/bot%s/getMe for user 42", BOT_TOKEN,
                extra={"error": f"key {VLESS_KEY} refused", "detail": {"urls": [SUB_URL], "login": PANEL_PASSWORD},
                       "attempt": 3})
    try:
        raise RuntimeError(f"panel said no to {VLESS_KEY}")
    except RuntimeError:
        log.exception("activation failed", extra={"user_id": 42})
    lines = log_lines()
    written = orjson.dumps(lines).decode()
    for secret in (BOT_TOKEN, VLESS_KEY, SUB_URL, PANEL_PASSWORD, "0b7c3f0e-1111"):
        assert secret not in written
    first, second = lines
    # What is not secret stays readable.
    assert "for user 42" in first["event"] and first["attempt"] == 3 and "refused" in first["error"]
    assert first["detail"]["urls"] == ["***"]
    assert second["user_id"] == 42 and "RuntimeError" in second["exception"]
