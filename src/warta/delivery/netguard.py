"""Where a webhook may go: public addresses only, unless the operator allows more.

A publisher or subscriber types the webhook URL, so the wire must not become a way into its own
network (server-side request forgery). A URL is refused when any address its host resolves to is
loopback, private, link-local, multicast, reserved, unspecified, site-local or otherwise not
public, including those addresses written in IPv6 forms that carry an IPv4 address
(IPv4-mapped, 6to4, NAT64). ``WARTA_WEBHOOK_ALLOW`` lists addresses and networks that are allowed
all the same, for receivers on the operator's own network.

The check runs when the URL is saved (`check_url_sync`) and again before every attempt
(`check_url`), since what a name resolves to can change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

__all__ = ["UnresolvedHost", "UnsafeTarget", "address_problem", "check_url", "check_url_sync", "target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "WARTA_WEBHOOK_ALLOW"
SCHEMES = {"http": 80, "https": 443}

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local use
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT


class UnsafeTarget(ValueError):
    """A webhook URL the wire will not call."""


class UnresolvedHost(UnsafeTarget):
    """The host name does not resolve (now); worth trying again later."""


def target(url: str) -> tuple[SplitResult, str, int]:
    """The parsed URL, its host (lower case, no brackets) and port; `UnsafeTarget` if unusable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"webhook URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise UnsafeTarget(f"webhook URL must start with http:// or https://, not {shown}")
    host = parts.hostname
    if not host:
        raise UnsafeTarget("webhook URL has no host")
    return parts, host.rstrip(".") or host, port or SCHEMES[scheme]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _kind(addr: IPAddress) -> str | None:
    """What makes a (plain) address unfit, in words; None for a public address."""
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "a site-local address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if isinstance(addr, ipaddress.IPv6Address) and addr in _NAT64_LOCAL:
        return "a local-use NAT64 address"
    if addr.is_reserved:
        return "a reserved address"
    if addr.is_private:
        return "a private address"
    if not addr.is_global:
        return "a non-public address"
    return None


def address_problem(addr: IPAddress) -> str | None:
    """Why an address is not a fit webhook target, e.g. ``"a loopback address"``; None if it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        inner = _embedded_v4(addr)
        if inner is not None:
            problem = _kind(inner)
            if addr.ipv4_mapped is not None:
                form = "an IPv4-mapped form of"
            elif addr.sixtofour is not None:
                form = "a 6to4 form of"
            else:
                form = "a NAT64 form of"
            return f"{form} {inner}, {problem}" if problem else None
    return _kind(addr)


@lru_cache(maxsize=32)
def _networks(allow: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in allow:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{ALLOW_SETTING} entry {entry!r} is not an IP address or network (CIDR)"
            ) from None
    return tuple(networks)


def _allowed(addr: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    forms: list[IPAddress] = [addr]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            forms.append(ipaddress.IPv6Address(str(addr).split("%", 1)[0]))
        inner = _embedded_v4(addr)
        if inner is not None:
            forms.append(inner)
    return any(form.version == net.version and form in net for form in forms for net in networks)


def _judge(addresses: Sequence[IPAddress], allow: Sequence[str]) -> list[str]:
    networks = _networks(tuple(allow))
    checked: list[str] = []
    for addr in addresses:
        problem = address_problem(addr)
        if problem and not _allowed(addr, networks):
            raise UnsafeTarget(f"webhook URL resolves to {addr}, {problem}; allow it with {ALLOW_SETTING}")
        if str(addr) not in checked:
            checked.append(str(addr))
    return checked


def _from_infos(host: str, infos: Iterable[tuple[object, ...]]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        addr = ipaddress.ip_address(str(sockaddr[0]))
        if addr not in found:
            found.append(addr)
    if not found:
        raise UnresolvedHost(f"webhook URL host {host} has no address")
    return found


def _unresolved(host: str, exc: OSError) -> UnresolvedHost:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return UnresolvedHost(f"webhook URL host {host} does not resolve: {reason}")


async def check_url(url: str, allow: Sequence[str]) -> list[str]:
    """Check a webhook URL before a request; return the addresses checked, in resolver order.

    Raises `UnsafeTarget` with a message fit to show the user; `UnresolvedHost` (a subclass)
    when the name does not resolve.
    """
    _, host, port = target(url)
    literal = _literal(host)
    if literal is not None:
        return _judge([literal], allow)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(host, exc if isinstance(exc, OSError) else OSError(str(exc))) from None
    return _judge(_from_infos(host, infos), allow)


def check_url_sync(url: str, allow: Sequence[str]) -> list[str]:
    """`check_url` for code that is not async (validating a URL when it is saved)."""
    _, host, port = target(url)
    literal = _literal(host)
    if literal is not None:
        return _judge([literal], allow)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(host, exc if isinstance(exc, OSError) else OSError(str(exc))) from None
    return _judge(_from_infos(host, infos), allow)
