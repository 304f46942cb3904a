"""Health endpoints, logging and the shutdown bound: what the shared runner needs of every service."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from common.settings.base import EnvSettings


class HealthSettings(EnvSettings):
    health_host: str = Field("127.0.0.1", description="address of /healthz, /readyz, /metrics")
    health_port_bot: int = Field(9101, ge=0, le=65535, description="health port of bot (0 = off)")
    health_port_payments: int = Field(9102, ge=0, le=65535, description="health port of payments")
    health_port_scheduler: int = Field(9103, ge=0, le=65535, description="health port of scheduler")
    health_port_vpn_gateway: int = Field(9104, ge=0, le=65535, description="health port of vpn_gateway")
    shutdown_timeout: float = Field(8.0, gt=0, le=120, description="seconds a service may take to drain on SIGTERM")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_format: Literal["auto", "json", "text"] = Field("auto", description="json when not on a TTY by default")

    def port(self, service: str) -> int:
        return int(getattr(self, f"health_port_{service}"))
