"""Webhook signature, as the Crypto Pay docs describe it.

The ``crypto-pay-api-signature`` header is the hex HMAC-SHA-256 of the raw
request body, keyed with the SHA-256 digest (raw bytes, not hex) of the app's
API token. Receivers must verify the exact bytes they got, before parsing.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "crypto-pay-api-signature"


def sign(token: str, body: bytes) -> str:
    secret = hashlib.sha256(token.encode("utf-8")).digest()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()
