"""How the services reach one another: ZeroMQ endpoints, CURVE keys, the RPC deadline."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from common.paths import REPO_ROOT
from common.settings.base import EnvSettings

# The process map: every service has an endpoint, a health port and a pool size.
SERVICES = ("bot", "payments", "scheduler", "vpn_gateway")


class IpcSettings(EnvSettings):
    run_dir: Path | None = Field(None, description="folder of the ipc:// sockets (mode 0700); default /tmp/atcs-<uid>-<hash>")
    endpoint_bot: str | None = Field(None, description="RPC endpoint of bot (ipc:// or tcp://); on several hosts a comma-separated list, this host's first: it binds the first and calls them in order")
    endpoint_payments: str | None = Field(None, description="RPC endpoint(s) of payments")
    endpoint_scheduler: str | None = Field(None, description="RPC endpoint(s) of scheduler")
    endpoint_vpn_gateway: str | None = Field(None, description="RPC endpoint(s) of vpn_gateway")
    curve_server_secret: SecretStr | None = Field(None, description="Z85 CURVE secret key of RPC servers (tcp only)")
    curve_server_public: str | None = Field(None, description="Z85 CURVE public key of RPC servers (tcp only)")
    curve_client_secret: SecretStr | None = Field(None, description="Z85 CURVE secret key of RPC clients (tcp only)")
    curve_client_public: str | None = Field(None, description="Z85 CURVE public key of RPC clients (tcp only)")
    rpc_timeout: float = Field(2.0, gt=0, le=60, description="default RPC deadline, seconds")

    def resolved_run_dir(self) -> Path:
        if self.run_dir is not None:
            return self.run_dir
        # Short on purpose: a unix socket path is limited to ~107 bytes.
        digest = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:8]
        return Path("/tmp") / f"atcs-{os.getuid()}-{digest}"

    def endpoint(self, service: str) -> str:
        """The endpoint this host's instance of `service` binds: the first of its list."""
        return self.endpoints(service)[0]

    def endpoints(self, service: str) -> list[str]:
        """Every instance of `service`, in the order a caller tries them (this host's first)."""
        explicit = getattr(self, f"endpoint_{service}")
        if explicit:
            return _split(explicit)
        return [f"ipc://{self.resolved_run_dir() / service}.ipc"]

    @field_validator("endpoint_bot", "endpoint_payments", "endpoint_scheduler", "endpoint_vpn_gateway")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if not value:
            return value
        items = _split(value)
        if not items or not all(item.startswith(("ipc://", "tcp://")) for item in items):
            raise ValueError("expected ipc://path or tcp://host:port, or a comma-separated list of them")
        if len(set(items)) != len(items):
            raise ValueError("an endpoint is listed twice")
        return value


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
