"""How every settings section is read.

Every variable is `ATCS_<NAME>`; `APP_ENV` (local | stage | prod) picks the environment. As in the
bot we replace, an environment can override any variable by prefix: with APP_ENV=prod,
`ATCS_PROD_BOT_TOKEN` wins over `ATCS_BOT_TOKEN`. Files `.env` and `.env.<APP_ENV>` are read too,
environment variables winning over both.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from common.paths import REPO_ROOT

APP_ENVS = ("local", "stage", "prod")
SectionT = TypeVar("SectionT", bound="EnvSettings")


class ConfigError(Exception):
    """A configuration value is invalid; the message is one line naming the variable."""


def app_env() -> str:
    value = os.environ.get("APP_ENV", "local").strip().lower() or "local"
    if value not in APP_ENVS:
        raise ConfigError(f"APP_ENV={value!r} is invalid: expected one of {', '.join(APP_ENVS)}")
    return value


def env_files() -> tuple[Path, ...]:
    env = app_env()
    return (REPO_ROOT / ".env", REPO_ROOT / f".env.{env}")


class _EnvPrefixOverride(PydanticBaseSettingsSource):
    """Reads `ATCS_<APP_ENV>_<NAME>` before `ATCS_<NAME>` (the old bot's per-environment prefixes)."""

    def __init__(self, settings_cls: type[BaseSettings], env: str) -> None:
        super().__init__(settings_cls)
        self._env = env.upper()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        prefix = self.config.get("env_prefix", "")
        if not prefix.startswith("ATCS_"):
            return None, field_name, False
        rest = prefix[len("ATCS_"):]
        key = f"ATCS_{self._env}_{rest}{field_name}".upper()
        return os.environ.get(key), key, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
        return values


class EnvSettings(BaseSettings):
    """One section: its fields are `ATCS_<FIELD>` variables."""
    model_config = SettingsConfigDict(env_prefix="ATCS_", extra="ignore", env_file_encoding="utf-8")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        env = app_env()
        return (init_settings, _EnvPrefixOverride(settings_cls, env), env_settings,
                dotenv_settings, file_secret_settings)

    @classmethod
    def read(cls: type[SectionT]) -> SectionT:
        """The section from the environment and the .env files; a bad value raises ConfigError
        with one line naming the variable (never echoing a secret)."""
        try:
            return cls(_env_file=env_files())
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None
        except SettingsError as exc:
            raise ConfigError(f"{exc}") from None


def describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = f"ATCS_{field}".upper()
    given = error.get("input")
    # A secret's value is never echoed back, even when it is the invalid one.
    secret = any(word in field for word in ("token", "secret", "database_url"))
    shown = "" if secret or isinstance(given, (dict, type(None))) else f" (got {given!r})"
    return f"{variable} is invalid{shown}: {error['msg']}"
