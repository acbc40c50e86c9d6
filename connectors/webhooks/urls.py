"""Which receiver URLs fieldbridge delivers to (``check_url``): http or https with a host
and, unless private addresses are allowed, only hosts whose every address is public, so that
a subscription cannot aim our requests at our own network (server-side request forgery).

``checked_address`` is the same check at delivery time, giving the address to connect to: the
connection goes to an address this very lookup approved, so a DNS answer that changes between
a check and a connect (DNS rebinding) cannot aim a delivery at our own network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

__all__ = ["IPAddress", "Resolver", "UnresolvedHost", "check_url", "checked_address", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]
"""A host and port's addresses (``resolve``: the system's resolver)."""


class UnresolvedHost(ValueError):
    """The host has no address now (which may pass: DNS may answer later)."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses by ``socket.getaddrinfo`` (``UnresolvedHost`` when it has none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvedHost(f"{host} does not resolve: {exc}") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise UnresolvedHost(f"{host} does not resolve")
    return found


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` (without surrounding white space) if it may receive webhooks; else a
    ``ValueError`` saying why (``UnresolvedHost`` when the host does not resolve).

    With ``allow_private`` only the scheme and the host are checked; without it, the host
    must resolve (``socket.getaddrinfo``) and every address must be public: none loopback,
    private, shared (CGNAT), link-local, reserved, multicast or unspecified."""
    url, parts = _parts(url)
    if not allow_private:
        _public(parts, resolve(_host(parts), _port(parts)))
    return url


def checked_address(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> IPAddress:
    """The address a delivery to ``url`` connects to: the first of the host's addresses, from
    one lookup, every one of them public unless ``allow_private`` (the errors as
    ``check_url``'s)."""
    _, parts = _parts(url)
    found = resolver(_host(parts), _port(parts))
    if not found:
        raise UnresolvedHost(f"{_host(parts)} does not resolve")
    if not allow_private:
        _public(parts, found)
    return found[0]


def _parts(url: str) -> tuple[str, SplitResult]:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range is refused here)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs receive webhooks, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"the URL names no host: {url!r}")
    return url, parts


def _host(parts: SplitResult) -> str:
    return str(parts.hostname)


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _public(parts: SplitResult, addresses: list[IPAddress]) -> None:
    host = _host(parts)
    for address in addresses:
        why = _not_public(address)
        if why is not None:
            named = host if host == str(address) else f"{host} ({address})"
            raise ValueError(
                f"{named} is a {why} address: refused unless private addresses are allowed"
            )


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
