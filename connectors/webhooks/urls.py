"""Which receiver URLs fieldbridge delivers to (``check_url``): http or https with a host
and, unless private addresses are allowed, only hosts whose every address is public, so that
a subscription cannot aim our requests at our own network (server-side request forgery).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["UnresolvedHost", "check_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnresolvedHost(ValueError):
    """The host has no address now (which may pass: DNS may answer later)."""


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` (without surrounding white space) if it may receive webhooks; else a
    ``ValueError`` saying why (``UnresolvedHost`` when the host does not resolve).

    With ``allow_private`` only the scheme and the host are checked; without it, the host
    must resolve (``socket.getaddrinfo``) and every address must be public: none loopback,
    private, shared (CGNAT), link-local, reserved, multicast or unspecified."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs receive webhooks, got {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"the URL names no host: {url!r}")
    if allow_private:
        return url
    for address in _addresses(host, port or (443 if parts.scheme == "https" else 80)):
        why = _not_public(address)
        if why is not None:
            named = host if host == str(address) else f"{host} ({address})"
            raise ValueError(
                f"{named} is a {why} address: refused unless private addresses are allowed"
            )
    return url


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvedHost(f"{host} does not resolve: {exc}") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise UnresolvedHost(f"{host} does not resolve")
    return found


def _not_public(address: IPAddress) -> str | None:
    """What makes ``address`` not public (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)
