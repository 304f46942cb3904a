"""3x-ui panel client API (v3.6.0; request shapes in contracts/3x-ui/v3.6.0/, checked against the
full spec in ../shared/specs/3x-ui-openapi.json by a test).

Auth: `POST /login` with the panel's admin username and password sets a session cookie; v3
panels also want the session's CSRF token (`GET /csrf-token`) in `X-CSRF-Token` on every POST.
Both live in PanelHttp's PanelAuth (cookie mode). An expired or forgotten session is not a 401:
3x-ui hides its API from strangers and answers 404 (older panels redirect to the login page;
a lost CSRF token is a 403), so any of those makes PanelAuth log in once more and retry once.

Every answer is an envelope `{success, msg, obj}`, HTTP 200 even when the panel refuses; `msg`
is only classified ("not found", "duplicate"), never quoted, since it may echo what we sent.

Accounts are clients of one inbound (`inbound_id` in the config). A client's `email` is its
unique name across the panel and the v3 API addresses clients by it, so the email is our
external id itself (`atcs-1001`): derived, never random, so a retried add is refused as a
duplicate and the client is then found by that email. The email is also the panel id we keep.

The key is the client's share link (`vless://…`), as the panel builds it from the inbound's
settings (`GET /panel/api/clients/links/{email}`, what its "Copy URL" button copies), not the
subscription URL: the subscription server is a separate listener whose public address the API
does not report, and building links ourselves would re-implement every transport's parameters
(Reality keys, SNI, flow) the panel already knows. Reissue gives the client a new UUID (and a new
Trojan password where it has one, and a new subId), so the old link stops working.

Versions: only the tested minor, 3.6.x (`panelVersion` of `GET /panel/api/server/status`). The
panel's update replaces the whole client, resetting any field it is not sent: a field a later
release adds is one our updates would wipe (3.8 added `limitHwid`, and an update without it
sets it to 0), so a newer panel is refused until its client record is checked.

Devices: `limitIp` is how many source IPs may use the client at once (0 = no limit), enforced by
the panel's IP log and fail2ban, where the panel runs them; it stands for the device limit. The
panel has no list of devices (only IP addresses seen, and a call that clears them all), so the
bot shows the limit and nothing to remove.
"""
from __future__ import annotations

import math
import secrets
import string
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from services.vpn_gateway.panels.base import (
    AccessSpec, AccountExists, Capabilities, PanelAccount, PanelBackend, PanelHealth, PanelRejected,
    PanelUnavailable,
)
from services.vpn_gateway.panels.http import PanelAuth, PanelHttp, checked_health, read_page
from services.vpn_gateway.panels.versions import Supported, VersionGate

PANEL_VERSION = "3.6.0"
SUPPORTED = Supported(lowest="3.6.0", below="3.7.0", tested=PANEL_VERSION)
# An expired session: 404 (v2.4+ hides the API), 401 (ajax callers), a redirect to the login
# page (older panels), 403 (CSRF token no longer matches the session).
SESSION_GONE = (401, 403, 404, 301, 302, 303, 307, 308)
CLIENTS = "/panel/api/clients"
_SUB_ID = string.ascii_lowercase + string.digits


def email_for(external_id: str) -> str:
    """The client's email: our external id, unchanged (`atcs-1001`)."""
    return external_id


def csrf_header(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token} if token else {}     # "": a panel without CSRF tokens


class XuiBackend(PanelBackend):
    kind = "3x-ui"
    capabilities = Capabilities(enforces_expiry=True, can_disable=True, lasting_traffic_limit=True,
                                device_limit=True)

    def __init__(self, http: PanelHttp, *, username: str, password: str, inbound_id: int, flow: str = "") -> None:
        self.http = http
        self.inbound_id = inbound_id
        self.flow = flow
        # twoFactorCode is required by the spec; empty when the panel has no 2FA (it must not).
        self._credentials = {"username": username, "password": password, "twoFactorCode": ""}
        http.auth = PanelAuth(self._login, header=csrf_header, expired_statuses=SESSION_GONE, cookies=True)
        http.gate = VersionGate(http.server, self.kind, SUPPORTED, self._version)

    async def _version(self) -> str | None:
        reply = await self.http.request("GET", "/panel/api/server/status", route="/panel/api/server/status",
                                        expect=(200,), probe=True)
        status = reply.body.get("obj") if _succeeded(reply.body) else None
        version = status.get("panelVersion") if isinstance(status, dict) else None
        return version if isinstance(version, str) and version else None

    async def _login(self, probe: bool) -> str:
        self.http.forget_cookies()
        reply = await self.http.request("POST", "/login", route="/login", json=self._credentials, expect=(200,),
                                        tolerate=(400, 401), probe=probe, authenticate=False)
        if reply.status != 200 or not _succeeded(reply.body):
            raise PanelRejected(f"{self.http.server}: POST /login: login refused (admin_username/admin_password)")
        reply = await self.http.request("GET", "/csrf-token", route="/csrf-token", expect=(200,), tolerate=(404,),
                                        probe=probe, authenticate=False)
        if reply.status == 404:
            return ""                                   # before v3: no CSRF token to send
        token = reply.body.get("obj") if _succeeded(reply.body) else None
        if not isinstance(token, str) or not token:
            raise PanelUnavailable(f"{self.http.server}: GET /csrf-token: answer without a token")
        return token

    async def _call(self, method: str, path: str, route: str, *, json: Any = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:
        """One API call; the envelope, whether the panel did it or refused."""
        reply = await self.http.request(method, path, route=route, json=json, params=params, expect=(200,))
        if not isinstance(reply.body, dict) or not isinstance(reply.body.get("success"), bool):
            raise PanelUnavailable(f"{self.http.server}: {method} {route}: answer is not a 3x-ui envelope")
        return reply.body

    def _refused(self, method: str, route: str, envelope: dict[str, Any]) -> PanelRejected:
        return PanelRejected(f"{self.http.server}: {method} {route}: refused ({refusal(envelope)})")

    async def _record(self, email: str) -> dict[str, Any] | None:
        route = CLIENTS + "/get/{email}"
        envelope = await self._call("GET", f"{CLIENTS}/get/{_q(email)}", route)
        if not envelope["success"]:
            if refusal(envelope) == "not found":
                return None
            raise self._refused("GET", route, envelope)
        record = (envelope.get("obj") or {}).get("client") if isinstance(envelope.get("obj"), dict) else None
        if not isinstance(record, dict) or record.get("email") != email or not record.get("uuid"):
            raise PanelUnavailable(f"{self.http.server}: GET {route}: answer without the client")
        return record

    async def _key(self, email: str) -> str:
        route = CLIENTS + "/links/{email}"
        envelope = await self._call("GET", f"{CLIENTS}/links/{_q(email)}", route)
        if not envelope["success"]:
            raise self._refused("GET", route, envelope)
        links = envelope.get("obj")
        link = next((x for x in links if isinstance(x, str) and "://" in x), None) if isinstance(links, list) else None
        if link is None:
            raise PanelRejected(f"{self.http.server}: GET {route}: no share link (inbound {self.inbound_id}'s "
                                "protocol has no URL form?)")
        return link

    async def _write(self, email: str, client: dict[str, Any]) -> None:
        route = CLIENTS + "/update/{email}"
        envelope = await self._call("POST", f"{CLIENTS}/update/{_q(email)}", route, json=client)
        if not envelope["success"]:
            raise self._refused("POST", route, envelope)

    async def find(self, external_id: str) -> PanelAccount | None:
        email = email_for(external_id)
        record = await self._record(email)
        if record is None:
            return None
        return account_of(record, external_id, await self._key(email))

    async def create(self, external_id: str, spec: AccessSpec) -> PanelAccount:
        email = email_for(external_id)
        client: dict[str, Any] = {
            "id": str(uuid.uuid4()), "email": email, "enable": True,
            "expiryTime": unix_ms(spec.expires_at), "totalGB": spec.traffic_limit_bytes,   # bytes, despite the name
            "limitIp": spec.device_limit, "subId": new_sub_id(), "tgId": 0, "comment": "", "reset": 0, "security": "",
        }
        if self.flow:
            client["flow"] = self.flow
        route = CLIENTS + "/add"
        envelope = await self._call("POST", route, route, json={"client": client, "inboundIds": [self.inbound_id]})
        if not envelope["success"]:
            if refusal(envelope) == "duplicate":
                raise AccountExists(f"{self.http.server}: client {email} exists")
            raise self._refused("POST", route, envelope)
        return account_of(client, external_id, await self._key(email))

    async def update(self, account: PanelAccount, *, expires_at: datetime | None = None,
                     traffic_limit_bytes: int | None = None, enabled: bool | None = None,
                     device_limit: int | None = None) -> PanelAccount:
        changes: dict[str, Any] = {}
        if expires_at is not None:
            changes["expiryTime"] = unix_ms(expires_at)
        if traffic_limit_bytes is not None:
            changes["totalGB"] = traffic_limit_bytes
        if enabled is not None:
            changes["enable"] = enabled
        if device_limit is not None:
            changes["limitIp"] = device_limit
        if not changes:
            return account
        # The panel replaces the whole client on update: read it, change our fields, send it all.
        record = await self._existing(account.panel_id)
        client = {**client_of(record), **changes}
        await self._write(account.panel_id, client)
        return account_of({**record, **changes}, account.external_id, account.access_key)

    async def revoke(self, account: PanelAccount) -> None:
        route = CLIENTS + "/del/{email}"
        envelope = await self._call("POST", f"{CLIENTS}/del/{_q(account.panel_id)}", route,
                                    params={"keepTraffic": "0"})
        if not envelope["success"] and refusal(envelope) != "not found":
            raise self._refused("POST", route, envelope)

    async def reissue(self, account: PanelAccount) -> PanelAccount:
        record = await self._existing(account.panel_id)
        rotated = {"id": str(uuid.uuid4()), "subId": new_sub_id()}
        if record.get("password"):
            rotated["password"] = secrets.token_hex(16)      # Trojan's secret (VLESS/VMess use the id)
        client = {**client_of(record), **rotated}
        await self._write(account.panel_id, client)
        return account_of({**record, **rotated, "uuid": rotated["id"]}, account.external_id,
                          await self._key(account.panel_id))

    async def usage(self, account: PanelAccount) -> int | None:
        route = CLIENTS + "/traffic/{email}"
        envelope = await self._call("GET", f"{CLIENTS}/traffic/{_q(account.panel_id)}", route)
        traffic = envelope.get("obj")
        if not envelope["success"] or not isinstance(traffic, dict):
            raise self._refused("GET", route, envelope)
        return int(traffic.get("up") or 0) + int(traffic.get("down") or 0)

    async def health(self) -> PanelHealth:
        # Our inbound proves the panel, our login and the config's inbound_id, and counts clients.
        def clients(body: Any) -> dict[str, int] | None:
            inbound = body.get("obj") if _succeeded(body) else None
            if not isinstance(inbound, dict) or inbound.get("id") != self.inbound_id:
                return None
            return {"total": len(inbound.get("clientStats") or [])}
        return await checked_health(self.http, lambda: read_page(
            self.http, f"/panel/api/inbounds/get/{self.inbound_id}", params={}, page=clients))

    async def close(self) -> None:
        await self.http.close()

    async def _existing(self, email: str) -> dict[str, Any]:
        record = await self._record(email)
        if record is None:
            raise PanelRejected(f"{self.http.server}: client {email} not found")
        return record


# Fields of a client (the spec's Client) that an update sends back as they were; the panel's
# record (ClientRecord) names the client's UUID `uuid` where the Client payload calls it `id`.
KEPT_FIELDS = ("email", "enable", "expiryTime", "totalGB", "limitIp", "subId", "tgId", "comment", "reset",
               "security", "flow", "password", "group")


def client_of(record: dict[str, Any]) -> dict[str, Any]:
    client = {name: record[name] for name in KEPT_FIELDS if record.get(name) is not None}
    client["id"] = record["uuid"]
    return client


def account_of(record: dict[str, Any], external_id: str, key: str) -> PanelAccount:
    expiry = record.get("expiryTime")
    return PanelAccount(
        panel_id=str(record["email"]),
        external_id=external_id,
        access_key=key,
        # 0 = never, negative = "this long after first use": neither is a date.
        expires_at=datetime.fromtimestamp(expiry / 1000, timezone.utc) if isinstance(expiry, int) and expiry > 0 else None,
        traffic_limit_bytes=int(record.get("totalGB") or 0),
        enabled=bool(record.get("enable")),
        device_limit=int(record.get("limitIp") or 0),
    )


def refusal(envelope: dict[str, Any]) -> str:
    """What kind of refusal `msg` describes (3x-ui has no error codes, only text)."""
    text = str(envelope.get("msg") or "").lower()
    if "not found" in text:
        return "not found"
    if "duplicate" in text or "already exists" in text:
        return "duplicate"
    return "panel said no"


def unix_ms(moment: datetime) -> int:
    """3x-ui's expiryTime: UTC milliseconds, rounded up (never less than was paid for)."""
    return math.ceil(moment.timestamp() * 1000)


def new_sub_id() -> str:
    return "".join(secrets.choice(_SUB_ID) for _ in range(16))


def _succeeded(body: Any) -> bool:
    return isinstance(body, dict) and body.get("success") is True


def _q(email: str) -> str:
    return quote(email, safe="")
