"""Who a request came from and how it reached us, when a reverse proxy stands in front.

``X-Forwarded-For``/``-Proto``/``-Host`` are believed only when the peer that sent them is a
proxy named in a setting: any other client could write them, to dodge a per-address limit or
to pass a forged Origin check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses (``10.0.0.7``) or networks (``10.0.0.0/8``); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as e:
            raise ValueError(f"{entry!r} is not an IP address or network") from e
    return tuple(networks)


def _checked(entries: list[str]) -> list[str]:
    parse_networks(entries)  # a typo must stop the start, not silently trust nobody
    return entries


# A settings field of proxy addresses or networks, refused at start when one does not parse.
ProxyList = Annotated[list[str], AfterValidator(_checked)]


def _hops(value: str | None) -> list[str]:
    return [hop.strip() for hop in (value or "").split(",") if hop.strip()]


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = parse_networks(entries)

    def trusts(self, peer: str | None) -> bool:
        if not peer or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client as the outermost trusted proxy saw it; the peer when none is trusted.

        Each proxy appends the address it saw, so the list is read from the right and trusted
        proxies are skipped: what is left of them may have been written by the client.
        """
        address = peer or "unknown"
        if not self.trusts(peer):
            return address
        for hop in reversed(_hops(forwarded_for)):
            address = hop
            if not self.trusts(hop):
                break
        return address

    def forwarded(self, peer: str | None, value: str | None) -> str | None:
        """The value a trusted proxy set in ``X-Forwarded-Proto``/``-Host`` (the last one,
        which that proxy wrote), or None when the peer is not trusted or set nothing."""
        if not self.trusts(peer):
            return None
        hops = _hops(value)
        return hops[-1] if hops else None
