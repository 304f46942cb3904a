"""Keys are secrets: stored only in vpn_accounts, never in a log line, an error, an alert, a
notice, a repr or `status`; panel tokens and Outline's secret path neither."""
from __future__ import annotations

import logging

import orjson
import pytest

from common.contract.outbox import Activation
from common.shop.outbox import enqueue_activation
from services.vpn_gateway.repositories.accounts import get_account
from services.vpn_gateway.panels.base import PanelAccount
from tests.vpn_gateway.support import (
    MARZBAN_ADMIN, MARZBAN_PASSWORD, REMNAWAVE_TOKEN, InProcessGateway, buy, fetch, marzban_server, outline_server,
    XUI_ADMIN, XUI_PASSWORD, remnawave_server, vpn_settings, xui_server,
)


def everything_logged(records: list[logging.LogRecord]) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(str(v) for k, v in record.__dict__.items() if k not in ("msg", "args"))
    return "\n".join(parts)


async def test_keys_and_credentials_stay_where_they_belong(db, gateways, outline, remnawave, marzban, xui,
                                                         caplog) -> None:
    caplog.set_level(logging.DEBUG)
    gw = InProcessGateway(db, vpn_settings([outline_server(outline, capacity=3), remnawave_server(remnawave, capacity=3),
                                            marzban_server(marzban, capacity=3), xui_server(xui)],
                                           # Only the start-up probe: a later one would spend the injected
                                           # faults below before the reissues meet them.
                                           vpn_max_attempts=1, vpn_health_interval=3600)).start()
    gateways.append(gw)
    for user_id in range(10_000, 10_012):
        await buy(db, user_id, 30)
    await gw.settle()
    outline.add_fault(route="*", kind="error", status=500, times=4)
    remnawave.add_fault(route="*", kind="error", status=500, times=4)
    marzban.add_fault(route="*", kind="error", status=500, times=4)
    marzban.expire_tokens()                    # a new login, amid the failures
    xui.add_fault(route="*", kind="error", status=500, times=4)
    xui.expire_sessions()                      # a new login session, amid the failures
    async with db.transaction() as conn:
        for user_id in range(10_000, 10_012):
            await enqueue_activation(conn, user_id, Activation.REISSUE, f"s:{user_id}")
    await gw.settle(timeout=30)
    for user_id in range(10_000, 10_012):
        await gw.usage.get(user_id)

    keys = [r["access_key"] for r in await fetch(db, "SELECT access_key FROM vpn_accounts")]
    assert len(keys) == 12 and all(keys)
    assert marzban.logins >= 2
    tokens = marzban.issued_tokens                 # what the panel issued since the expiry
    assert xui.stats()["requests"]["POST /login"] >= 2
    secrets = [*keys, REMNAWAVE_TOKEN, outline.api_prefix, MARZBAN_PASSWORD, *tokens, XUI_PASSWORD,
               *xui.issued_secrets]                # session cookies and CSRF tokens
    secrets += [key.split("://", 1)[1].split("@", 1)[0] for key in keys if key.startswith("vless://")]   # a UUID alone
    secrets += [key.rsplit("/", 1)[-1] for key in keys if "/sub/" in key]     # a subscription token alone, too
    logged = everything_logged(caplog.records)
    assert "activation done" in logged
    elsewhere = orjson.dumps([
        [dict(r) for r in await fetch(db, "SELECT last_error, payload::text FROM activations")],
        [dict(r) for r in await fetch(db, "SELECT subject, detail::text FROM admin_alerts")],
        [dict(r) for r in await fetch(db, "SELECT params::text FROM notifications")],
        gw.pool.describe(),
    ], default=str).decode()
    assert await fetch(db, "SELECT 1 FROM admin_alerts")   # the failures were reported...
    for secret in secrets:
        assert secret not in logged
        assert secret not in elsewhere                      # ...without a secret in them
    async with db.acquire() as conn:
        account = await get_account(conn, 10_000)
    assert account.access_key not in repr(account)
    panel = PanelAccount(panel_id="1", external_id="atcs-1", access_key="ss://secret@host:1/", expires_at=None,
                         traffic_limit_bytes=0, enabled=True)
    assert "ss://" not in repr(panel)


async def test_panel_errors_name_route_and_status_not_urls(db, gateways, panel) -> None:
    standin, server = panel
    gw = InProcessGateway(db, vpn_settings([{**server, "retries": 0}]), health=False)
    gateways.append(gw)
    standin.add_fault(route="*", kind="error", status=503)
    from services.vpn_gateway.panels.base import PanelUnavailable

    with pytest.raises(PanelUnavailable) as error:
        await gw.pool.get(server["name"]).backend.find("atcs-1")
    text = str(error.value)
    assert "503" in text and server["name"] in text
    assert standin.url.split("//")[1] not in text and REMNAWAVE_TOKEN not in text
    assert MARZBAN_PASSWORD not in text and MARZBAN_ADMIN not in text
    assert XUI_PASSWORD not in text and XUI_ADMIN not in text


def test_panel_credentials_are_scrubbed_from_log_lines_as_a_last_guard(monkeypatch) -> None:
    """Nothing logs them (above); should a library ever echo one, the log filter still hides it."""
    from types import SimpleNamespace

    import common.logging
    from common.logging import scrub

    monkeypatch.setattr(common.logging, "_extra_secrets", [])   # this process's other tests keep their own
    from services.vpn_gateway.app import _register_secrets

    class Standin:   # what the server helpers read from a stand-in, without starting one
        url = "http://127.0.0.1:1/panel"
        inbound_id = 1

    settings = vpn_settings([remnawave_server(Standin), marzban_server(Standin), xui_server(Standin)])
    _register_secrets(SimpleNamespace(settings=SimpleNamespace(vpn=settings)))
    line = scrub(f"login with {MARZBAN_PASSWORD} / {XUI_PASSWORD}, bearer {REMNAWAVE_TOKEN}")
    assert MARZBAN_PASSWORD not in line and XUI_PASSWORD not in line and REMNAWAVE_TOKEN not in line
