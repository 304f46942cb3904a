"""A self-signed TLS certificate made at start, as a real Outline server makes its own.

Made with the `openssl` command line, as Outline's installer does (`openssl req -x509 ...`, then
`openssl x509 -fingerprint -sha256` for the certSha256 it prints): no Python dependency for the
sandbox, and the same tool whose output operators paste into ATCS_VPN_SERVERS. The key is EC
P-256 rather than the installer's RSA 4096, which takes seconds to generate: what a client pins
is the certificate's digest, whatever its key. The files live in a private temporary folder only
until the server context has loaded them.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

GENERATE_TIMEOUT = 30.0


@dataclass(frozen=True)
class SelfSigned:
    context: ssl.SSLContext   # the server's
    pem: str                  # the certificate (public), for a client that wants to trust it
    sha256: str               # of its DER: 64 upper-case hex digits, as Outline prints certSha256


def self_signed(common_name: str) -> SelfSigned:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("serving https needs the openssl command (apt-get install openssl)")
    with tempfile.TemporaryDirectory(prefix="standin-tls-") as folder:
        key, cert = Path(folder) / "key.pem", Path(folder) / "cert.pem"
        result = subprocess.run(
            [openssl, "req", "-x509", "-nodes", "-days", "36500", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", f"/CN={common_name}",
             "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True, timeout=GENERATE_TIMEOUT)
        if result.returncode != 0:
            raise RuntimeError(f"openssl could not make a certificate: {result.stderr.strip()[-500:]}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        pem = cert.read_text()
    return SelfSigned(context=context, pem=pem, sha256=fingerprint(pem))


def fingerprint(pem: str) -> str:
    """SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints it without colons."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
