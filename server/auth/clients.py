"""Which address a request comes from, for the login limits.

The TCP peer's, unless the peer is one of ``DOORSTEP_TRUSTED_PROXIES`` (none by default): then
the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy. Entries to its left
were written by the client and prove nothing; each trusted proxy appends the address it saw.

``doorstep serve`` starts uvicorn with ``proxy_headers=False``: uvicorn would otherwise believe
X-Forwarded-For from 127.0.0.1 and rewrite the peer before the app sees it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection

from server.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(block, strict=False) for block in trusted)


def _parse(value: str) -> IPAddress | None:
    """An address, also as some proxies write it with a port (``1.2.3.4:5678``, ``[2001:db8::1]:443``)."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _key(ip: IPAddress) -> str:
    """IPv4 addresses count one by one; an IPv6 host usually has a whole /64 to pick from."""
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(peer: str | None, forwarded: Sequence[str], trusted: tuple[str, ...]) -> str:
    """The client's address as the login limits count it (a /64 for IPv6).

    ``forwarded``: every X-Forwarded-For header of the request, in order."""
    peer_ip = _parse(peer) if peer else None
    if peer_ip is None:
        return (peer or "unknown")[:64]
    networks = _networks(trusted)

    def is_proxy(ip: IPAddress) -> bool:
        return any(ip in network for network in networks)

    if not is_proxy(peer_ip):
        return _key(peer_ip)
    nearest = peer_ip
    hops = [hop for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            break  # not an address: count the request against the proxy that handed it over
        if not is_proxy(ip):
            return _key(ip)
        nearest = ip
    return _key(nearest)


def client_address_of(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    peer = connection.client.host if connection.client else None
    return client_address(peer, connection.headers.getall("x-forwarded-for", []), settings.trusted_proxies)
