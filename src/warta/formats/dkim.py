"""DKIM signatures (RFC 6376): rsa-sha256 with relaxed/relaxed canonicalisation.

Each email carries its own recipient, Message-ID and unsubscribe link, so each needs its own
signature: one RSA private-key operation per message. Done with OpenSSL (through `cryptography`)
it costs about half a millisecond; in pure Python (dkimpy's signer) it costs over ten, which at a
wire's volumes is a core's whole time. Signatures are verified in the tests with dkimpy.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb"[ \t]+\r\n")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
_B64_LINE = 72


@functools.lru_cache(maxsize=4)
def load_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the DKIM key must be an RSA private key (PEM)")
    return key


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: runs of whitespace become one space, whitespace at line ends goes, empty
    lines at the end go, and a non-empty body ends with one CRLF."""
    if not body:
        return b""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = _WSP_BEFORE_CRLF.sub(b"\r\n", _WSP_RUN.sub(b" ", body))
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 3.4.2: the name in lower case; the value unfolded, whitespace runs as one space,
    none around the colon or at the end; no line end (the caller adds it)."""
    value = _WSP_RUN.sub(b" ", _FOLD.sub(b"", value)).strip(b" \t\r\n")
    return name.strip().lower() + b":" + value


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """Header fields in order, as (name, value with its folding), from a CRLF header block."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        elif line:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields


def sign(
    raw: bytes, selector: str, domain: str, pem: bytes, headers: Sequence[str], now: int | None = None
) -> bytes:
    """The DKIM-Signature header line (with its CRLF) for ``raw``, a message with CRLF line ends.

    Of ``headers``, those present are signed, each by its last occurrence."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, body = raw, b""
    fields = _fields(head)
    signed: list[bytes] = []
    hashed = bytearray()
    for wanted in headers:
        name = wanted.lower().encode("ascii")
        for field_name, value in reversed(fields):
            if field_name.strip().lower() == name:
                signed.append(name)
                hashed += relaxed_header(field_name, value) + b"\r\n"
                break
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode("ascii")
    stamp = int(time.time()) if now is None else now
    tags = (
        f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector};\r\n"
        f"\tt={stamp}; h={':'.join(n.decode('ascii') for n in signed)};\r\n"
        f"\tbh={body_hash};\r\n\tb="
    ).encode("ascii")
    hashed += relaxed_header(b"DKIM-Signature", b" " + tags)
    signature = load_key(pem).sign(bytes(hashed), padding.PKCS1v15(), hashes.SHA256())
    b64 = base64.b64encode(signature)
    folded = b"\r\n\t".join(b64[i : i + _B64_LINE] for i in range(0, len(b64), _B64_LINE))
    return b"DKIM-Signature: " + tags + folded + b"\r\n"
