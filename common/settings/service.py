"""The settings one service is built from: the sections it declares, and nothing else.

A service's `settings.py` subclasses ServiceSettings with one field per section it reads
(`telegram: TelegramSettings`, ...); `read()` validates exactly those, so a bad value in a section
the service does not declare cannot stop it. The three sections here are what the shared runner
itself needs of every service.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from typing import Self

from pydantic import SecretStr

from common.settings.base import EnvSettings, app_env
from common.settings.database import DatabaseSettings
from common.settings.health import HealthSettings
from common.settings.ipc import IpcSettings


@dataclass
class ServiceSettings:
    database: DatabaseSettings
    ipc: IpcSettings
    health: HealthSettings

    @classmethod
    def read(cls) -> Self:
        """Every declared section, in declaration order; the first bad value raises ConfigError."""
        app_env()  # a bad APP_ENV is reported as such, before any section
        return cls(**{name: section.read() for name, section in cls.section_types().items()})

    @classmethod
    def section_types(cls) -> dict[str, type[EnvSettings]]:
        types = typing.get_type_hints(cls)
        return {f.name: types[f.name] for f in fields(cls)}

    def sections(self) -> dict[str, EnvSettings]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def secrets(self) -> list[str]:
        """Every secret value set in the declared sections, for the log scrubber."""
        found = []
        for section in self.sections().values():
            for name in type(section).model_fields:
                value = getattr(section, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
        return found
