"""The Remnawave stand-in's HWID devices, as panel v3.2.3 keeps them: an app that fetches the
subscription with its HWID is remembered; past the user's hwidDeviceLimit a new device is refused
the subscription; one device is listed and deleted through the API (answers checked against our
contract fixtures), which frees its place; deleting the user deletes its devices."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sandbox.remnawave_api import (  # noqa: F401 - checked_api, remnawave_panel: the fixtures
    checked_api, fixture, iso, remnawave_panel,
)

DEVICES = fixture("hwid-devices.response")
DELETE = fixture("delete-hwid-device.request")


async def fetch_sub(session, url: str, hwid: str | None, **headers: str) -> int:
    sent = {**({"x-hwid": hwid} if hwid else {}), **headers}
    async with session.get(url, headers=sent) as response:
        return response.status


async def test_devices_are_counted_listed_and_one_deleted(api, panel, session) -> None:
    status, created = await api("POST", "/api/users", {
        "username": "atcs-1", "expireAt": iso(panel.clock.now() + timedelta(days=30)), "hwidDeviceLimit": 2})
    assert status == 201 and created["response"]["hwidDeviceLimit"] == 2
    user_id, url = created["response"]["id"], created["response"]["subscriptionUrl"]

    assert await fetch_sub(session, url, "hwid-a", **{"x-device-os": "Android", "x-device-model": "Pixel 8"}) == 200
    assert await fetch_sub(session, url, "hwid-b") == 200
    assert await fetch_sub(session, url, "hwid-a") == 200                 # a known device: still fine
    assert await fetch_sub(session, url, "hwid-c") == 403                 # a third: over the limit
    assert await fetch_sub(session, url, None) == 403                     # a limited user needs a HWID

    _, listed = await api("GET", f"/api/hwid/devices/{user_id}", expect=DEVICES)
    assert listed["response"]["total"] == 2
    first = listed["response"]["devices"][0]
    assert (first["hwid"], first["platform"], first["deviceModel"], first["userId"]) == \
        ("hwid-a", "Android", "Pixel 8", user_id)

    body = {"userId": user_id, "hwid": "hwid-a"}
    DELETE.validate(body)
    _, left = await api("POST", "/api/hwid/devices/delete", body, expect=DEVICES)
    assert [d["hwid"] for d in left["response"]["devices"]] == ["hwid-b"]
    assert await fetch_sub(session, url, "hwid-c") == 200                 # its place was free

    # A higher limit lets more in; 0 is no limit at all.
    await api("PATCH", "/api/users", {"id": user_id, "hwidDeviceLimit": 0})
    assert await fetch_sub(session, url, "hwid-d") == 200
    assert len(panel.devices(user_id)) == 3

    status, _ = await api("POST", "/api/hwid/devices/delete", {"userId": user_id})
    assert status == 400                                                  # one device needs its hwid
    status, _ = await api("DELETE", f"/api/users/{user_id}", expect=None)
    assert status == 204 and panel.devices(user_id) == []


def test_the_device_fixtures_can_fail() -> None:
    with pytest.raises(Exception):
        DEVICES.validate({"response": {"total": 1}})
    with pytest.raises(Exception):
        DELETE.validate({"userId": 1})
