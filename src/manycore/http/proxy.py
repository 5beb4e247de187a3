"""Who the client is behind a reverse proxy: X-Forwarded-For/-Proto and ``Forwarded``.

A proxy appends the address it received a request from, so a chain of hops
reads client-first, nearest-proxy-last.  Only entries written by proxies we
trust can be believed: walking the chain from the right (the nearest hop), the
client is the first address that is not a trusted proxy -- the *rightmost
untrusted hop*.  Everything to its left was written by the client itself and is
ignored, however plausible it looks.  If every hop is trusted, the leftmost one
is the client.

Pure functions, no I/O: ``HttpServer`` calls them per request when
``proxy_headers`` is on, and so may any other server of this package.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FORWARDED_ALLOW_IPS",
    "Peer",
    "TrustedProxies",
    "parse_trusted",
    "resolve_client",
]

DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
"""Trusted unless told otherwise: a proxy on this machine (uvicorn's default too)."""

_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_UNIX = "unix:"  # the entry that trusts peers on a Unix domain socket (they have no address)

Peer = tuple[str, int]
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose forwarding headers are believed."""

    networks: tuple[_Network, ...] = ()
    everyone: bool = False
    unix: bool = False

    def __contains__(self, host: object) -> bool:
        """``host``: an IP address string, or None for a peer on a Unix domain socket."""
        if self.everyone:
            return True
        if host is None:
            return self.unix
        address = _address(host) if isinstance(host, str) else None
        return address is not None and any(address in network for network in self.networks)


def parse_trusted(text: str | Iterable[str]) -> TrustedProxies:
    """``"127.0.0.1, 10.0.0.0/8, ::1"``, ``"*"`` (everyone) or ``"unix:"`` (Unix sockets).

    Raises ``ValueError`` naming the first entry that is none of these.
    """
    entries = text.split(",") if isinstance(text, str) else list(text)
    networks: list[_Network] = []
    everyone = unix = False
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            everyone = True
        elif entry == _UNIX:
            unix = True
        else:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address, a CIDR network (10.0.0.0/8), '*' or {_UNIX!r}"
                ) from None
    return TrustedProxies(tuple(networks), everyone, unix)


def resolve_client(
    peer: Peer | None,
    headers: Sequence[tuple[bytes, bytes]],
    trusted: TrustedProxies,
    scheme: str = "http",
) -> tuple[Peer | None, str]:
    """The client's address and the scheme it used, as (client, scheme).

    ``peer`` is the socket's peer (None on a Unix domain socket), ``headers``
    the request's header fields (names in any case), ``scheme`` the one this
    connection itself speaks.  Nothing changes unless ``peer`` is trusted.  A
    ``Forwarded`` field (RFC 7239) wins over ``X-Forwarded-For``/``-Proto``
    when both are present.  A hop whose address is not an IP address
    (``unknown``, an obfuscated name, garbage) ends the walk: the client is
    then the last real address reached.  Addresses from the headers come with
    port 0 unless ``Forwarded`` gives one.
    """
    if (peer[0] if peer else None) not in trusted:
        return peer, scheme
    hops = _forwarded_hops(headers)
    if hops is None:
        hops = _x_forwarded_hops(headers)
    client = peer
    for host, port, proto in reversed(hops):
        if proto is not None:  # written by a trusted proxy, like the hop's address
            scheme = proto
        address = _address(host) if host else None
        if address is None:
            break
        client = (str(address), port)
        if client[0] not in trusted:
            break
    return client, scheme


_Hop = tuple[str | None, int, str | None]  # address, port, scheme; any part may be unknown


def _joined(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    """Every field of ``name`` as one comma-separated value (RFC 9110 section 5.3)."""
    values = [value for key, value in headers if key.lower() == name]
    if not values:
        return None
    return b",".join(values).decode("latin-1")


def _x_forwarded_hops(headers: Sequence[tuple[bytes, bytes]]) -> list[_Hop]:
    """X-Forwarded-For paired from the right with X-Forwarded-Proto."""
    forwarded_for = _joined(headers, b"x-forwarded-for")
    forwarded_proto = _joined(headers, b"x-forwarded-proto")
    hosts = [part.strip() for part in forwarded_for.split(",")] if forwarded_for else []
    protos: list[str | None] = (
        [_scheme(part) for part in forwarded_proto.split(",")] if forwarded_proto else []
    )
    if not hosts:
        # A proxy that says only how it was reached speaks for the peer itself.
        return [(None, 0, protos[-1])] if protos else []
    if len(protos) == 1:
        protos = [*[None] * (len(hosts) - 1), *protos]  # one proto, several hops: the nearest's
    offset = len(hosts) - len(protos)
    return [
        (_strip_brackets(host), 0, protos[i - offset] if 0 <= i - offset < len(protos) else None)
        for i, host in enumerate(hosts)
    ]


def _forwarded_hops(headers: Sequence[tuple[bytes, bytes]]) -> list[_Hop] | None:
    """RFC 7239 section 4: ``Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:80"``."""
    value = _joined(headers, b"forwarded")
    if value is None:
        return None
    hops: list[_Hop] = []
    for element in _split_outside_quotes(value, ","):
        host: str | None = None
        port = 0
        proto: str | None = None
        for pair in _split_outside_quotes(element, ";"):
            name, sep, raw = pair.partition("=")
            if not sep:
                continue
            name = name.strip().lower()
            text = raw.strip()
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if name == "for":
                host, port = _node(text)
            elif name == "proto":
                proto = _scheme(text)
        hops.append((host, port, proto))
    return hops


def _node(text: str) -> tuple[str | None, int]:
    """RFC 7239 section 6: ``192.0.2.43``, ``192.0.2.43:47011``, ``[2001:db8::1]:4711``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, 0
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else 0
    return host, port if port <= 65535 else 0


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    start = 0
    quoted = escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


def _scheme(text: str) -> str | None:
    scheme = text.strip().lower()
    return scheme if scheme in _SCHEMES else None


def _strip_brackets(host: str) -> str:
    """X-Forwarded-For may bracket an IPv6 address, with or without a port."""
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:  # IPv4 with a port
        return host.partition(":")[0]
    return host


def _address(host: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # no zone: it names our link
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 for trust and for logs
    return address
