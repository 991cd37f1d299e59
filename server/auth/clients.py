"""Which address a request comes from, for the login limits: the TCP peer's."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(value.strip())
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


def client_address(peer: str | None) -> str:
    """The client's address as the login limits count it (a /64 for IPv6)."""
    peer_ip = _parse(peer) if peer else None
    if peer_ip is None:
        return (peer or "unknown")[:64]
    return _key(peer_ip)


def client_address_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return client_address(connection.client.host if connection.client else None)
