"""Which panel versions a backend speaks, and the gate that keeps it off any other.

Panels change their APIs across versions (Remnawave 3.0 addresses users by a numeric id where
2.x had a uuid and dropped `by-telegram-id`; shops broke on upgrades). Each backend names the
range it supports and the version it was tested against (`Supported`), and says how to read
its panel's version. The gate reads it before the first call to the panel and again at every
health probe; outside the range every call is refused without touching the panel
(`PanelRefused`, naming both versions) and the server is not ready, until a probe sees a
supported version again (after the panel is upgraded or rolled back).
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.vpn_gateway.panels.base import PanelError, PanelRefused

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
_SHOWN = re.compile(r"[^0-9A-Za-z.+_-]")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`3.2.3`, `v3.1.0`, `1.12`, `2.8.0-beta.1` -> (major, minor, patch); None if not a version."""
    found = _VERSION.match(text.strip())
    if found is None:
        return None
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)


def shown(text: str) -> str:
    """The version as the panel reported it, safe for a log line or a status page."""
    return _SHOWN.sub("?", text.strip())[:40] or "?"


@dataclass(frozen=True)
class Supported:
    lowest: str        # inclusive
    below: str         # exclusive: the next version whose API we have not checked
    tested: str        # the version our contract fixtures and stand-in follow

    def admits(self, version: tuple[int, int, int]) -> bool:
        low, high = parse_version(self.lowest), parse_version(self.below)
        assert low is not None and high is not None
        return low <= version < high

    def __str__(self) -> str:
        return f">= {self.lowest}, < {self.below}; tested with {self.tested}"


class VersionGate:
    """One server's version check. `read` asks the panel for its version (as a probe, so an open
    breaker does not hide it) and returns it, or None where the panel does not say."""

    def __init__(self, server: str, kind: str, supported: Supported,
                 read: Callable[[], Awaitable[str | None]]) -> None:
        self.server = server
        self.kind = kind
        self.supported = supported
        self._read = read
        self.version: str | None = None      # as last read
        self.refusal: str | None = None      # why the panel is refused, or None
        self.checked = False
        self._lock = asyncio.Lock()
        self._failures = 0
        self._failure: PanelError | None = None

    async def check(self) -> None:
        """Read the version and decide; a panel that cannot be reached, or refuses our login,
        raises (no verdict: that is not about its version)."""
        reported = await self._read()
        if reported is None:
            self._verdict(None, f"{self.server}: the panel does not report its version (older than the "
                                f"{self.kind} backend knows, or an API token without that right); "
                                f"the {self.kind} backend supports {self.supported}")
            return
        version = parse_version(reported)
        if version is None or not self.supported.admits(version):
            self._verdict(shown(reported), f"{self.server}: panel version {shown(reported)} is not supported by the "
                                           f"{self.kind} backend (it supports {self.supported})")
            return
        self._verdict(shown(reported), None)

    def _verdict(self, version: str | None, refusal: str | None) -> None:
        self.version, self.refusal, self.checked = version, refusal, True

    async def admit(self) -> None:
        """Before a call: the version is checked once (one check for every call waiting on it: a
        failed check fails them all, without a request each); a refused panel raises."""
        if not self.checked:
            failures = self._failures
            async with self._lock:
                if not self.checked:
                    if self._failures != failures and self._failure is not None:
                        raise self._failure
                    try:
                        await self.check()
                    except PanelError as exc:
                        self._failures += 1
                        self._failure = exc
                        raise
        if self.refusal is not None:
            raise PanelRefused(self.refusal)

