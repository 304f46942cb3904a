"""ATCS_VPN_SERVERS: parsed and checked at start, secret throughout (it holds Outline's secret
URLs and Remnawave tokens): masked by `atcs config`, never echoed by an error."""
from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from common.paths import REPO_ROOT
from common.settings.base import ConfigError
from ops.all_settings import effective_config
from services.vpn_gateway.settings import VpnSettings

TOKEN = "rw-token-0123456789"
OUTLINE_URL = "https://203.0.113.5:4321/Zm9vYmFyc2VjcmV0cGF0aA"


def servers(*extra: dict) -> str:
    return orjson.dumps([{"name": "nl-1", "backend": "outline", "api_url": OUTLINE_URL},
                         {"name": "de-1", "backend": "remnawave", "api_url": "https://panel.example",
                          "token": TOKEN, "capacity": 500, "weight": 2, "max_concurrency": 8,
                          "request_timeout": 5, "squads": ["6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"]},
                         *extra]).decode()


def test_servers_are_parsed_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATCS_VPN_SERVERS", servers())
    monkeypatch.setenv("ATCS_VPN_WORKER_CONCURRENCY", "12")
    vpn = VpnSettings.read()
    nl, de = vpn.servers
    assert (nl.name, nl.backend, nl.capacity, nl.max_concurrency, nl.token) == ("nl-1", "outline", 1000, 4, None)
    assert (de.capacity, de.weight, de.max_concurrency, de.request_timeout) == (500, 2.0, 8, 5.0)
    assert de.token.get_secret_value() == TOKEN and nl.api_url.get_secret_value() == OUTLINE_URL
    assert vpn.vpn_worker_concurrency == 12
    assert TOKEN not in repr(vpn) and OUTLINE_URL not in repr(vpn.servers)


# As the Outline installer prints it: {"apiUrl":"https://…","certSha256":"<64 upper-case hex digits>"}.
CERT_SHA256 = "9C3F3A18EE48E0D6B2EEBE4B42338B4524F32C213F72255ABF2BC39812076EE0"


@pytest.mark.parametrize("written", [
    CERT_SHA256,                                                                # pasted as printed
    CERT_SHA256.lower(),
    ":".join(CERT_SHA256[i:i + 2] for i in range(0, 64, 2)),                  # openssl x509 -fingerprint
    " " + ":".join(CERT_SHA256[i:i + 2] for i in range(0, 64, 2)).lower() + "\n",
])
def test_a_certificate_pin_is_taken_in_the_forms_it_is_printed_in(monkeypatch: pytest.MonkeyPatch,
                                                                  written: str) -> None:
    installer = {"apiUrl": OUTLINE_URL, "certSha256": written}
    monkeypatch.setenv("ATCS_VPN_SERVERS", orjson.dumps([
        {"name": "nl-1", "backend": "outline", "api_url": installer["apiUrl"], "cert_sha256": installer["certSha256"]},
        {"name": "fi-1", "backend": "marzban", "api_url": "https://203.0.113.9:8000", "admin_username": "a",
         "admin_password": TOKEN, "cert_sha256": written},
        {"name": "de-1", "backend": "remnawave", "api_url": "https://panel.example", "token": TOKEN},
    ]).decode())
    nl, fi, de = VpnSettings.read().servers
    assert nl.cert_sha256 == fi.cert_sha256 == CERT_SHA256
    assert de.cert_sha256 is None                     # no pin: the system CAs verify it


def test_atcs_config_masks_the_server_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATCS_VPN_SERVERS", servers())
    shown = orjson.dumps(effective_config()).decode()
    assert TOKEN not in shown and "Zm9vYmFyc2VjcmV0cGF0aA" not in shown
    assert effective_config()["vpn"]["ATCS_VPN_SERVERS"] == "********"


@pytest.mark.parametrize("bad, message", [
    ('{"not": "a list"}', "expected a JSON list"),
    ("[{oops", "not valid JSON"),
    (orjson.dumps([{"name": "x", "backend": "remnawave", "api_url": "https://p"}]).decode(), "needs a token"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": "ftp://" + TOKEN}]).decode(), "http(s) URL"),
    (orjson.dumps([{"name": "x", "backend": "wireguard", "api_url": "https://p"}]).decode(), "backend"),
    (orjson.dumps([{"name": "x", "backend": "marzban", "api_url": "https://p", "admin_username": "admin"}]).decode(),
     "needs admin_username and admin_password"),
    (orjson.dumps([{"name": "x", "backend": "marzban", "api_url": "https://p", "admin_username": "a",
                    "admin_password": TOKEN, "proxies": ["wireguard"]}]).decode(), "proxies"),
    (orjson.dumps([{"name": "x", "backend": "3x-ui", "api_url": "https://p", "admin_username": "a",
                    "inbound_id": 3}]).decode(), "a 3x-ui server needs admin_username and admin_password"),
    (orjson.dumps([{"name": "x", "backend": "3x-ui", "api_url": "https://p", "admin_username": "a",
                    "admin_password": TOKEN}]).decode(), "a 3x-ui server needs inbound_id"),
    (orjson.dumps([{"name": "x", "backend": "3x-ui", "api_url": "https://p", "admin_username": "a",
                    "admin_password": TOKEN, "inbound_id": 0}]).decode(), "inbound_id"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": OUTLINE_URL, "max_concurrency": 0}]).decode(),
     "max_concurrency"),
    (servers({"name": "nl-1", "backend": "outline", "api_url": OUTLINE_URL}), "unique"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": OUTLINE_URL, "cert_sha256": "AB" * 31}]).decode(),
     "cert_sha256: Value error, must be the certificate's SHA-256: 64 hex digits"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": OUTLINE_URL, "cert_sha256": "XY" * 32}]).decode(),
     "cert_sha256: Value error, must be the certificate's SHA-256: 64 hex digits"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": OUTLINE_URL, "cert_sha256": 12}]).decode(),
     "cert_sha256: Value error, must be the certificate's SHA-256"),
    (orjson.dumps([{"name": "x", "backend": "outline", "api_url": "http://203.0.113.5:4321/Zm9vYmFyc2VjcmV0cGF0aA",
                    "cert_sha256": "AB" * 32}]).decode(), "cert_sha256 needs an https api_url"),
])
def test_a_bad_server_list_is_one_clear_line_without_the_secret(monkeypatch: pytest.MonkeyPatch, bad: str,
                                                               message: str) -> None:
    monkeypatch.setenv("ATCS_VPN_SERVERS", bad)
    with pytest.raises(ConfigError) as error:
        VpnSettings.read()
    text = str(error.value)
    assert text.startswith("ATCS_VPN_SERVERS is invalid") and message in text
    assert TOKEN not in text and "Zm9vYmFyc2VjcmV0cGF0aA" not in text


def test_the_gateway_refuses_to_start_on_a_bad_list() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
    env["ATCS_VPN_SERVERS"] = orjson.dumps([{"name": "x", "backend": "remnawave", "api_url": TOKEN}]).decode()
    result = subprocess.run([sys.executable, "-m", "services.vpn_gateway"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=30, env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ATCS_VPN_SERVERS" in lines[0] and TOKEN not in result.stderr
