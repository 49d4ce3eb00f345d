"""The visitor's address behind reverse proxies, trusting proxy headers only from proxies the operator named.

``X-Forwarded-For`` (or ``Forwarded: for=...``) is read only when the connection comes from an address in
``TRUSTED_PROXIES``; then the list is walked from the right (the hop nearest to us), skipping trusted proxies,
and the first address that is not one is the client. Anyone else's headers are ignored: a visitor cannot choose
the address their limits are counted under.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    text = value.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # an IPv4 address with a port
        text = text.split(":", 1)[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def _hops(request: web.BaseRequest) -> list[str]:
    """The forwarded-for chain, nearest hop last: ``X-Forwarded-For`` if present, else ``Forwarded``."""
    forwarded_for = request.headers.getall("X-Forwarded-For", [])
    if forwarded_for:
        return [hop for header in forwarded_for for hop in header.split(",")]
    return [str(item["for"]) for item in request.forwarded if "for" in item]


def client_address(request: web.BaseRequest, trusted: Sequence[Network]) -> str:
    """The visitor's IP address as text (``"unknown"`` when the peer has none, e.g. a Unix socket)."""
    peer = _parse(request.remote or "")
    if peer is None:
        return "unknown"
    if not _trusted(peer, trusted):
        return str(peer)
    chain: Iterable[str] = reversed(_hops(request))
    leftmost = peer
    for hop in chain:
        address = _parse(hop)
        if address is None:
            break  # a malformed hop: trust nothing further left
        if not _trusted(address, trusted):
            return str(address)
        leftmost = address
    return str(leftmost)
