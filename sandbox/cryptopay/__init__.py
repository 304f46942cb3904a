"""Local stand-in for the Crypto Pay API (Crypto Bot). See ``standin.py``."""

from sandbox.cryptopay.invoices import PayError
from sandbox.cryptopay.signing import SIGNATURE_HEADER
from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.cryptopay.webhooks import DeliveryPolicy

__all__ = ["CryptoPayStandIn", "DeliveryPolicy", "PayError", "SIGNATURE_HEADER"]
