"""`atcs host-keys` and `atcs host-config`: what one host of a several-host shop needs (docs/scaling.md).

Every host runs the programs of its role (`full`: all four; `front`: bot and payments; `back`:
scheduler and vpn_gateway) against the one PostgreSQL. `host-keys` makes the cluster's CURVE keys
once (one server pair and one client pair, shared by every host: a server answers only that client
key); `host-config` writes, for one host, a supervisord.conf with only its role's programs and an
environment in which each service's endpoint list names every host that runs it, this host's
first (it binds that one and calls it first; the others are its fallbacks, RPC tries them in order).
Both files hold secrets: they are written 0600 and never printed.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from common.paths import REPO_ROOT
from common.settings.base import ConfigError
from common.settings.ipc import SERVICES

ROLES: dict[str, tuple[str, ...]] = {
    "full": SERVICES,
    "front": ("bot", "payments"),
    "back": ("scheduler", "vpn_gateway"),
}
DEFAULT_BASE_PORT = 7300
KEY_NAMES = ("ATCS_CURVE_SERVER_PUBLIC", "ATCS_CURVE_SERVER_SECRET", "ATCS_CURVE_CLIENT_PUBLIC",
             "ATCS_CURVE_CLIENT_SECRET")


def new_keys() -> dict[str, str]:
    import zmq
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    return dict(zip(KEY_NAMES, (k.decode() for k in (server_public, server_secret, client_public, client_secret))))


def parse_hosts(text: str) -> dict[str, tuple[str, str]]:
    """`a=10.0.0.1:full,b=10.0.0.2:full` -> {name: (address, role)}; the role defaults to full."""
    hosts: dict[str, tuple[str, str]] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        match = re.fullmatch(r"([A-Za-z0-9_-]+)=([^:=,\s]+)(?::([a-z]+))?", item)
        if not match:
            raise ConfigError(f"--hosts is invalid: {item!r}; expected name=address[:role], e.g. a=10.0.0.1:full")
        name, address, role = match.group(1), match.group(2), match.group(3) or "full"
        if role not in ROLES:
            raise ConfigError(f"--hosts is invalid: role {role!r} of {name}; expected one of {', '.join(ROLES)}")
        if name in hosts:
            raise ConfigError(f"--hosts is invalid: host {name} is listed twice")
        hosts[name] = (address, role)
    if not hosts:
        raise ConfigError("--hosts is invalid: no host given")
    return hosts


def environment(hosts: Mapping[str, tuple[str, str]], this: str, keys: Mapping[str, str],
                base_port: int = DEFAULT_BASE_PORT) -> dict[str, str]:
    """The ATCS_ variables of host `this`: every service's endpoint list (this host first) and the keys."""
    if this not in hosts:
        raise ConfigError(f"--host is invalid: {this!r} is not in --hosts ({', '.join(hosts)})")
    missing = [name for name in KEY_NAMES if not keys.get(name)]
    if missing:
        raise ConfigError(f"the keys file lacks {', '.join(missing)} (`atcs host-keys` writes one)")
    env = {name: keys[name] for name in KEY_NAMES}
    order = [this] + [name for name in hosts if name != this]
    for index, service in enumerate(SERVICES):
        runners = [name for name in order if service in ROLES[hosts[name][1]]]
        if not runners:
            raise ConfigError(f"--hosts is invalid: no host runs {service}")
        env[f"ATCS_ENDPOINT_{service.upper()}"] = ",".join(
            f"tcp://{hosts[name][0]}:{base_port + index}" for name in runners)
    return env


def supervisord_conf(role: str, env: Mapping[str, str], root: Path = REPO_ROOT, template: str | None = None) -> str:
    """The repository's supervisord.conf with only `role`'s programs and `env` for all of them, its
    paths made absolute under `root` (the checkout on that host) so the file may live anywhere."""
    text = template if template is not None else (REPO_ROOT / "supervisord.conf").read_text()
    text = text.replace("%(here)s", str(root)).replace("files = var/run/", f"files = {root}/var/run/")
    services = ROLES[role]
    dropped = [s for s in SERVICES if s not in services]
    for service in dropped:
        text = re.sub(rf"\n\[program:{service}\]\n.*?(?=\n\[|\Z)", "\n", text, flags=re.S)
    text = re.sub(r"^programs=.*$", "programs=" + ",".join(s for s in ("vpn_gateway", "payments", "scheduler", "bot")
                                                          if s in services), text, flags=re.M)
    # supervisord expands %(name)s twice in [supervisord] environment (its parser, then expand()): a
    # Z85 key may hold a "%", written "%%%%".
    pairs = ",".join(f'{name}="{value.replace("%", "%%%%")}"' for name, value in sorted(env.items()))
    text = re.sub(r'^environment=(.*)$', lambda m: f"environment={m.group(1)},{pairs}", text, count=1, flags=re.M)
    return text


def read_keys(path: Path) -> dict[str, str]:
    keys: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            keys[name.strip()] = value.strip()
    return keys


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def write_keys(path: Path) -> None:
    if path.exists():
        raise ConfigError(f"{path} exists: the cluster's keys are made once; remove it to make new ones")
    write_private(path, "".join(f"{name}={value}\n" for name, value in new_keys().items()))


def write_host(out: Path, hosts_text: str, this: str, keys_path: Path, base_port: int,
               root: Path = REPO_ROOT) -> Path:
    if not keys_path.exists():
        raise ConfigError(f"--keys is invalid: {keys_path} does not exist (`atcs host-keys` writes it)")
    hosts = parse_hosts(hosts_text)
    env = environment(hosts, this, read_keys(keys_path), base_port)
    target = out / "supervisord.conf"
    write_private(target, supervisord_conf(hosts[this][1], env, root))
    return target
