"""SSRF-safe egress: POSTs to URLs a client named go only where the operator allows.

A webhook URL is client input: without a rule a server would POST wherever it is told, including
its cloud's metadata service (169.254.169.254) and the private network behind it. Every delivery
is checked when it is made, not when the URL was first seen:

1. the URL: `https` (plain `http` only for loopback with `allow_loopback`, or with `allow_http`), no
   user info, a port from `allowed_ports`, a match of the `allowed` globs when given, and a host
   written as an address must pass the address rules of step 3 (this much needs no DNS, so a
   server's ingress refuses such a reply address at once);
2. the host name: not `localhost`/`*.localhost` (unless loopback is allowed), not a metadata or
   cluster-internal name;
3. every address the name resolves to (A and AAAA): none may be loopback, private, link-local,
   CGNAT, unique-local, multicast, reserved, documentation, or a metadata address, and IPv4
   addresses embedded in IPv6 (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are unwrapped and judged
   as IPv4; Teredo addresses are refused outright;
4. the connection goes to the address that was checked (the URL's host is replaced by it, the
   `Host` header and TLS SNI keep the name), so a second DNS answer cannot point elsewhere;
   redirects are not followed (a 3xx is a failed delivery) and proxies from the environment are
   not used. Each destination host has its own connection pool, so no connection is shared
   between two names that resolve to one address.

`ipaddress`'s `is_global` differs between Python versions and lets NAT64 forms of the metadata
address through, so the block lists here are explicit.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import anyio
import httpx2

__all__ = ["EgressPolicy", "EgressRefused", "PinnedTransport", "blocked_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED_V4 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    )
)  # fmt: skip
_BLOCKED_V6 = tuple(
    ipaddress.ip_network(net)
    for net in ("::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "100::/64", "2001:db8::/32", "2001::/32")
)
"""Unspecified, loopback, unique-local, link-local, multicast, discard-only, documentation, and
Teredo (2001::/32, whose embedded addresses are obfuscated)."""

_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_BLOCKED_NAMES = ("metadata.google.internal", "metadata", "instance-data", "*.svc.cluster.local", "*.internal")
_LOOPBACK_NAMES = ("localhost", "*.localhost")

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")

MAX_POOLS = 256
"""Destination hosts whose connection pools are kept (least recently used dropped first)."""


class EgressRefused(ValueError):
    """A delivery to this URL is not allowed; the message says why (for the log, never the client)."""


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = address.packed
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(packed[-4:])
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address(packed[2:6])
    if address in _V4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(packed[-4:])
    return None


def blocked_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be connected to, or None when it may."""
    if address in _METADATA:
        return f"{address} is a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            reason = blocked_reason(inner, allow_loopback=allow_loopback)
            return None if reason is None else f"{address} embeds {inner}: {reason}"
        if allow_loopback and address == ipaddress.IPv6Address("::1"):
            return None
        for net in _BLOCKED_V6:
            if address in net:
                return f"{address} is in the non-public range {net}"
        return None
    if allow_loopback and address in _LOOPBACK_V4:
        return None
    for net in _BLOCKED_V4:
        if address in net:
            return f"{address} is in the non-public range {net}"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Where deliveries may go. The default allows any public `https` URL."""

    allowed: tuple[str, ...] | None = None
    """URL globs (`https://hooks.example.com/*`) a delivery must match; None: any URL that passes the checks."""
    allow_loopback: bool = False
    """Allow 127.0.0.0/8 and ::1 (and plain http to them): local development and tests only."""
    allow_http: bool = False
    """Allow plain `http` to public addresses (behind a TLS-terminating egress proxy, say)."""
    allowed_ports: tuple[int, ...] | None = None
    """Ports a delivery may use; None: any."""
    resolve_timeout: float = 5.0

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of a URL that passes the URL and name checks; raises `EgressRefused`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise EgressRefused(f"{url!r} is not an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise EgressRefused(f"{url!r} carries user info")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise EgressRefused(f"{url!r} names no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise EgressRefused(f"{url!r} has an invalid port") from None
        if self.allowed is not None and not any(fnmatchcase(url, pattern) for pattern in self.allowed):
            raise EgressRefused(f"{url!r} matches none of the allowed webhook URL patterns")
        if self.allowed_ports is not None and port not in self.allowed_ports:
            raise EgressRefused(f"{url!r}: port {port} is not allowed")
        if any(fnmatchcase(host, name) for name in _BLOCKED_NAMES):
            raise EgressRefused(f"{url!r}: {host} is an internal name")
        if not self.allow_loopback and any(fnmatchcase(host, name) for name in _LOOPBACK_NAMES):
            raise EgressRefused(f"{url!r}: {host} is the loopback host")
        if scheme == "http" and not (self.allow_http or self.allow_loopback):
            raise EgressRefused(f"{url!r} is plain http; webhooks must use https")
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None  # a name: its addresses are judged when it is resolved
        if literal is not None and (reason := blocked_reason(literal, allow_loopback=self.allow_loopback)):
            raise EgressRefused(f"{url!r}: {reason}")
        return scheme, host, port

    async def resolve(self, host: str, port: int, *, scheme: str = "https") -> IPAddress:
        """The address to connect to: every address `host` resolves to must pass; the first is used."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            with anyio.fail_after(self.resolve_timeout):
                try:
                    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                except OSError as exc:
                    raise EgressRefused(f"{host} does not resolve: {exc}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise EgressRefused(f"{host} does not resolve")
        for address in addresses:
            reason = blocked_reason(address, allow_loopback=self.allow_loopback)
            if reason is not None:
                raise EgressRefused(f"{host} resolves to a refused address: {reason}")
        chosen = addresses[0]
        if scheme == "http" and not self.allow_http and not (self.allow_loopback and chosen.is_loopback):
            raise EgressRefused(f"{host}: plain http is allowed to loopback addresses only")
        return chosen


class PinnedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that checks each request's URL and connects to the checked address."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._pools: OrderedDict[tuple[str, str, int], httpx2.AsyncHTTPTransport] = OrderedDict()
        self._retired: list[httpx2.AsyncHTTPTransport] = []

    def _pool(self, key: tuple[str, str, int]) -> httpx2.AsyncHTTPTransport:
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpx2.AsyncHTTPTransport(retries=0, trust_env=False)
            while len(self._pools) > MAX_POOLS:
                self._retired.append(self._pools.popitem(last=False)[1])
        self._pools.move_to_end(key)
        return pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        scheme, host, port = self.policy.check_url(str(request.url))
        address = await self.policy.resolve(host, port, scheme=scheme)
        request.url = request.url.copy_with(host=str(address))
        request.headers["Host"] = host if port in (80, 443) else f"{host}:{port}"
        if scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        while self._retired:
            await self._retired.pop().aclose()
        return await self._pool((scheme, host, port)).handle_async_request(request)

    async def aclose(self) -> None:
        pools: Sequence[httpx2.AsyncHTTPTransport] = [*self._pools.values(), *self._retired]
        self._pools.clear()
        self._retired.clear()
        for pool in pools:
            await pool.aclose()
