"""Operators set ATCS_* variables; a wrong one must stop the process with one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from common.paths import REPO_ROOT
from common.settings.base import ConfigError
from common.settings.database import DatabaseSettings
from ops.all_settings import AllSettings


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATCS_") and k != "APP_ENV"}
    env.update(extra)
    return env


@pytest.mark.parametrize("service", ["bot", "payments", "scheduler", "vpn_gateway"])
def test_bad_value_exits_2_with_one_line(service: str) -> None:
    result = subprocess.run([sys.executable, "-m", f"services.{service}"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=30, env=_env(ATCS_POOL_BOT="lots"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "ATCS_POOL_BOT" in lines[0] and "integer" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_endpoint_and_app_env_are_named() -> None:
    result = subprocess.run([sys.executable, "-m", "services.scheduler"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=30, env=_env(ATCS_ENDPOINT_SCHEDULER="http://x"))
    assert result.returncode == 2 and "ATCS_ENDPOINT_SCHEDULER" in result.stderr
    result = subprocess.run([sys.executable, "-m", "ops.cli", "config"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=30, env=_env(APP_ENV="production"))
    assert result.returncode == 2 and "APP_ENV" in result.stderr and "local, stage, prod" in result.stderr


def test_too_long_ipc_path_is_a_clear_error() -> None:
    deep = "/tmp/" + "d" * 120
    result = subprocess.run([sys.executable, "-m", "services.bot"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=30, env=_env(ATCS_RUN_DIR=deep, ATCS_HEALTH_PORT_BOT="0"))
    assert result.returncode == 2
    assert "limit is 107" in result.stderr and "ATCS_RUN_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_prefix_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "stage")
    monkeypatch.setenv("ATCS_POOL_BOT", "4")
    monkeypatch.setenv("ATCS_STAGE_POOL_BOT", "9")
    monkeypatch.setenv("ATCS_PROD_POOL_BOT", "11")
    monkeypatch.setenv("ATCS_ADMIN_IDS", "10, 20")
    settings = AllSettings.read()
    assert settings.database.pool_bot == 9
    assert settings.telegram.admin_ids == [10, 20]
    monkeypatch.setenv("ATCS_ADMIN_IDS", "10,abc")
    with pytest.raises(ConfigError, match="ATCS_ADMIN_IDS"):
        AllSettings.read()


def test_atcs_config_masks_secrets() -> None:
    token = "123456789:AAHsecretsecretsecretsecretsecret12"
    result = subprocess.run([sys.executable, "-m", "ops.cli", "config"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=30, env=_env(ATCS_BOT_TOKEN=token, ATCS_CRYPTOPAY_TOKEN="cp-secret-1",
                                                 ATCS_DATABASE_URL="postgresql://u:hunter2@db/atcs"))
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout and "cp-secret-1" not in result.stdout and "hunter2" not in result.stdout
    config = orjson.loads(result.stdout)
    assert config["telegram"]["ATCS_BOT_TOKEN"] == "********"
    assert config["database"]["effective_url"] == "postgresql://u:****@db/atcs"
    assert config["payments"]["ATCS_PAYMENTS_PORT"] == 8081


def test_atcs_config_tells_how_the_embedded_database_is_reached_without_its_password(tmp_path: Path) -> None:
    passfile = tmp_path / "pgpass"
    password = "Embedded-password-never-shown-0123456789"
    passfile.write_text(f"127.0.0.1:*:*:atcs:{password}\n127.0.0.1:*:*:postgres:{password}x\n")
    result = subprocess.run([sys.executable, "-m", "ops.cli", "config"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=30, env=_env(ATCS_EMBEDDED_PG_PORT="54400", ATCS_EMBEDDED_PG_PASSFILE=str(passfile)))
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout
    database = orjson.loads(result.stdout)["database"]
    assert database["connection"] == {"host": "127.0.0.1", "port": 54400, "database": "atcs", "user": "atcs",
                                      "password_file": str(passfile)}
    assert database["effective_url"].startswith("postgresql://atcs@127.0.0.1:54400/atcs?passfile=")


def test_an_external_database_url_is_used_as_given() -> None:
    url = "postgresql://shop:hunter2@db.internal:6432/shop?sslmode=require"
    settings = DatabaseSettings(database_url=url)
    assert settings.url() == url and not settings.embedded
    assert settings.connection() == {"host": "db.internal", "port": 6432, "database": "shop", "user": "shop",
                                     "password": "****"}


def test_one_shop_currency_for_prices_invoices_and_balances() -> None:
    """Invoices, balances, renewal notices and the admin's revenue all name the same currency."""
    from services.payments.settings import CryptoPaySettings

    assert CryptoPaySettings(cryptopay_currency_type="fiat", cryptopay_fiat="EUR").shop_currency == "EUR"
    assert CryptoPaySettings(cryptopay_currency_type="crypto", cryptopay_asset="USDT",
                             cryptopay_fiat="EUR").shop_currency == "USDT"
