"""Which client app opens the keys of each panel backend (instructions name it).

Outline keys (ss://) open in Outline's own client. Remnawave and Marzban hand out subscription
URLs and 3x-ui a VLESS/Trojan share link: Hiddify opens all of those, on every platform the
instructions cover, from the stores they name.
"""
from __future__ import annotations

APPS = {"outline": "Outline", "remnawave": "Hiddify", "marzban": "Hiddify", "3x-ui": "Hiddify"}
NO_KEY_YET = "Outline"  # before a key exists the text is generic; the first panel the shop had


def app_for(backend: str | None) -> str:
    return APPS.get(backend or "", NO_KEY_YET)
