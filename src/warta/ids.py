"""Identifiers: time-ordered, URL-safe, unguessable."""

from __future__ import annotations

import base64
import secrets
import time

# RFC 4648 base32 digits, mapped to Crockford's lower-case alphabet (same order, so ids sort by time)
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")
_DIGITS = "0123456789abcdefghjkmnpqrstvwxyz"
_LOW_78 = (1 << 78) - 1


def new_id(prefix: str = "") -> str:
    """A 26-character id that sorts by creation time: 48-bit millisecond clock, 80 random bits."""
    raw = int(time.time() * 1000).to_bytes(6, "big") + secrets.token_bytes(10)
    return prefix + base64.b32encode(raw).decode("ascii")[:26].translate(_TO_CROCKFORD)


def new_ids(prefix: str, n: int) -> list[str]:
    """`n` ids as `new_id` makes them, on one reading of the clock: for writers of many rows at once
    (a release's ledger rows), where encoding each id on its own cost more than inserting its row.

    The 26 characters are 130 bits: the clock's 48, 80 random, 2 zero. The first 9 characters are
    the clock's top 45 bits; the 10th its last 3 and the first 2 random; the last 16 the other 78
    random bits and the 2 zero ones, whole 10-byte groups that base32 encodes as one string."""
    ms = int(time.time() * 1000)
    clock = (ms >> 3 << 3).to_bytes(6, "big") + bytes(4)
    head = prefix + base64.b32encode(clock).decode("ascii")[:9].translate(_TO_CROCKFORD)
    low = (ms & 7) << 2
    random = secrets.token_bytes(10 * n)
    tenth: list[str] = []
    rest: list[bytes] = []
    for i in range(0, 10 * n, 10):
        r = int.from_bytes(random[i : i + 10], "big")
        tenth.append(_DIGITS[low | r >> 78])
        rest.append(((r & _LOW_78) << 2).to_bytes(10, "big"))
    tails = base64.b32encode(b"".join(rest)).decode("ascii").translate(_TO_CROCKFORD)
    return [head + tenth[k] + tails[16 * k : 16 * k + 16] for k in range(n)]
