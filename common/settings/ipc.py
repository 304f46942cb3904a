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
    endpoint_bot: str | None = Field(None, description="RPC endpoint of bot (ipc:// or tcp://)")
    endpoint_payments: str | None = Field(None, description="RPC endpoint of payments")
    endpoint_scheduler: str | None = Field(None, description="RPC endpoint of scheduler")
    endpoint_vpn_gateway: str | None = Field(None, description="RPC endpoint of vpn_gateway")
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
        explicit = getattr(self, f"endpoint_{service}")
        if explicit:
            return explicit
        return f"ipc://{self.resolved_run_dir() / service}.ipc"

    @field_validator("endpoint_bot", "endpoint_payments", "endpoint_scheduler", "endpoint_vpn_gateway")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ipc://", "tcp://")):
            raise ValueError("expected ipc://path or tcp://host:port")
        return value
