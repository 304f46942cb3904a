"""Crypto Pay webhook signature: `crypto-pay-api-signature` is the hex HMAC-SHA-256 of the raw
request body, keyed with the SHA-256 digest of the app token. Checked on the exact bytes
received, before anything parses them, in constant time."""
from __future__ import annotations

import hashlib
import hmac

HEADER = "crypto-pay-api-signature"
_HEX_LENGTH = 64


class SignatureVerifier:
    def __init__(self, token: str | None) -> None:
        # No token configured: Crypto Bot is disabled and no signature can be valid.
        self._key = hashlib.sha256(token.encode()).digest() if token else None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def valid(self, body: bytes, signature: str | None) -> bool:
        if self._key is None or not signature or len(signature) != _HEX_LENGTH:
            return False
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()
        # A header may carry any bytes; anything not ASCII simply fails the comparison.
        given = signature.encode("utf-8", "replace")
        return hmac.compare_digest(expected, given)
