"""Where sockets live: ipc:// paths in a private run dir, or tcp:// with CURVE."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigError, IpcSettings

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_IPC_PATH = 107


@dataclass(frozen=True)
class CurveKeys:
    server_public: bytes
    server_secret: bytes | None
    client_public: bytes
    client_secret: bytes | None


def prepare_endpoint(endpoint: str, variable: str) -> str:
    """Checks an endpoint before bind/connect; creates the run dir (0700) for ipc://."""
    if endpoint.startswith("ipc://"):
        path = Path(endpoint[len("ipc://"):])
        if len(str(path).encode()) > MAX_IPC_PATH:
            raise ConfigError(
                f"{variable} is invalid: unix socket path {path} is {len(str(path).encode())} bytes, "
                f"the limit is {MAX_IPC_PATH}; set ATCS_RUN_DIR to a shorter folder")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.parent.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path.parent, 0o700)
    elif not endpoint.startswith("tcp://"):
        raise ConfigError(f"{variable} is invalid: expected ipc://path or tcp://host:port, got {endpoint!r}")
    return endpoint


def curve_keys(settings: IpcSettings) -> CurveKeys | None:
    if not settings.curve_server_public or not settings.curve_client_public:
        return None
    secret = settings.curve_server_secret.get_secret_value().encode() if settings.curve_server_secret else None
    client_secret = settings.curve_client_secret.get_secret_value().encode() if settings.curve_client_secret else None
    return CurveKeys(settings.curve_server_public.encode(), secret,
                     settings.curve_client_public.encode(), client_secret)


def require_curve_for_tcp(endpoint: str, keys: CurveKeys | None, variable: str) -> None:
    if endpoint.startswith("tcp://") and keys is None:
        raise ConfigError(
            f"{variable} is invalid: a tcp:// endpoint needs CURVE keys "
            "(ATCS_CURVE_SERVER_PUBLIC/SECRET and ATCS_CURVE_CLIENT_PUBLIC/SECRET; `atcs curve-keys` makes them)")
