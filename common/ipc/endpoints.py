"""Where sockets live: ipc:// paths in a private run dir, or tcp:// with CURVE."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from common.settings.base import ConfigError

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
from common.settings.ipc import IpcSettings

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_IPC_PATH = 107
Z85_KEY_LENGTH = 40    # a 32-byte CURVE key in Z85


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
        private_dir(path.parent)
    elif not endpoint.startswith("tcp://"):
        raise ConfigError(f"{variable} is invalid: expected ipc://path or tcp://host:port, got {endpoint!r}")
    return endpoint


def private_dir(path: Path) -> Path:
    """Creates `path` (mode 0700) if needed, and tightens it if this user owns it, unless it is
    a shared sticky folder such as /tmp (an endpoint may be put straight in one; root owns it)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    shared = bool(info.st_mode & stat.S_ISVTX)
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != 0o700 and not shared:
        os.chmod(path, 0o700)
    return path


def curve_keys(settings: IpcSettings) -> CurveKeys | None:
    if not settings.curve_server_public or not settings.curve_client_public:
        return None
    secret = settings.curve_server_secret.get_secret_value().encode() if settings.curve_server_secret else None
    client_secret = settings.curve_client_secret.get_secret_value().encode() if settings.curve_client_secret else None
    return CurveKeys(settings.curve_server_public.encode(), secret,
                     settings.curve_client_public.encode(), client_secret)


# What each side of a tcp:// connection needs: a server its own key pair; a client the server's
# public key (to know whom it talks to) and its own key pair.
_SERVER_KEYS = ("curve_server_public", "curve_server_secret")
_CLIENT_KEYS = ("curve_server_public", "curve_client_public", "curve_client_secret")
Role = Literal["server", "client"]


def require_curve_for_tcp(endpoint: str, settings: IpcSettings, variable: str, role: Role) -> None:
    """A tcp:// endpoint is refused, as a server and as a client, unless the CURVE keys that side
    needs are all set and well-formed: nothing ever talks in clear over tcp."""
    if not endpoint.startswith("tcp://"):
        return
    names = _SERVER_KEYS if role == "server" else _CLIENT_KEYS
    missing = [f"ATCS_{name.upper()}" for name in names if not _key_text(settings, name)]
    if missing:
        raise ConfigError(
            f"{variable} is invalid: {endpoint} is tcp://, which needs CURVE keys; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set (`atcs curve-keys` makes a pair)")
    for name in names:
        if len(_key_text(settings, name)) != Z85_KEY_LENGTH:
            raise ConfigError(f"ATCS_{name.upper()} is invalid: expected a {Z85_KEY_LENGTH}-character Z85 key "
                              "as `atcs curve-keys` prints it")


def check_endpoints(settings: IpcSettings, service: str, peers: tuple[str, ...]) -> str:
    """At start, before anything binds or connects: the service's own endpoint as a server and
    every peer's as a client, so that a missing key fails the start, not the first call.
    Returns the service's own endpoint, ready to bind."""
    for peer in peers:
        if peer != service:
            for address in settings.endpoints(peer):
                require_curve_for_tcp(address, settings, endpoint_variable(peer), "client")
    endpoint = prepare_endpoint(settings.endpoint(service), endpoint_variable(service))
    require_curve_for_tcp(endpoint, settings, endpoint_variable(service), "server")
    return endpoint


def endpoint_variable(service: str) -> str:
    return f"ATCS_ENDPOINT_{service.upper()}"


def _key_text(settings: IpcSettings, name: str) -> str:
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return (value or "").strip()
