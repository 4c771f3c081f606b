"""The SSRF rules: which URLs and addresses a webhook may be delivered to, judged after DNS."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import pytest

from asyncmcp.channels.webhook import egress
from asyncmcp.channels.webhook.egress import EgressPolicy, EgressRefused, blocked_reason

pytestmark = pytest.mark.anyio

REFUSED = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
    "169.254.170.2", "100.64.0.1", "100.100.100.200", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::a9fe:a9fe",  # NAT64 forms of the metadata address, loopback
    "2002:a9fe:a9fe::1", "2002:7f00:1::1",  # 6to4
    "::127.0.0.1",  # IPv4-compatible
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]  # fmt: skip
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_in_every_spelling(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_loopback_is_allowed_only_when_the_operator_says_so() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert blocked_reason(ipaddress.ip_address(address), allow_loopback=True) is None
    assert blocked_reason(ipaddress.ip_address("169.254.169.254"), allow_loopback=True) is not None
    assert blocked_reason(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "not an http(s) URL"),
        ("https://user:pw@hooks.example.com/x", "user info"),
        ("https:///x", "names no host"),
        ("http://hooks.example.com/x", "plain http"),
        ("https://localhost/x", "loopback host"),
        ("https://api.localhost/x", "loopback host"),
        ("https://metadata.google.internal/computeMetadata/v1/", "internal name"),
        ("https://kube-dns.svc.cluster.local/", "internal name"),
        ("https://hooks.example.com:99999/x", "invalid port"),
    ],
)
def test_urls_are_refused_before_anything_is_resolved(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match=re.escape(reason)):
        EgressPolicy().check_url(url)


def test_an_allowlist_and_allowed_ports_narrow_what_passes() -> None:
    policy = EgressPolicy(allowed=("https://hooks.example.com/*",), allowed_ports=(443,))
    assert policy.check_url("https://hooks.example.com/a") == ("https", "hooks.example.com", 443)
    with pytest.raises(EgressRefused, match="allowed webhook URL patterns"):
        policy.check_url("https://other.example.com/a")
    with pytest.raises(EgressRefused, match="port 8443"):
        EgressPolicy(allowed_ports=(443,)).check_url("https://hooks.example.com:8443/a")


def _resolving_to(*addresses: str) -> Any:
    async def fake(host: str, port: int, **_: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return fake


@pytest.mark.parametrize("answers", [("127.0.0.1",), ("93.184.216.34", "10.0.0.5"), ("64:ff9b::a9fe:a9fe",)])
async def test_a_name_that_resolves_to_a_refused_address_is_refused(answers: tuple[str, ...]) -> None:
    """DNS rebinding: a public-looking name answered with a private address (any one of its answers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(egress.anyio, "getaddrinfo", _resolving_to(*answers))
        with pytest.raises(EgressRefused, match="resolves to a refused address"):
            await EgressPolicy().resolve("rebind.example", 443)


async def test_numeric_spellings_of_loopback_resolve_to_it_and_are_refused() -> None:
    for host in ("2130706433", "0x7f000001", "127.1", "017700000001"):
        with pytest.raises(EgressRefused):
            await EgressPolicy().resolve(host, 443)


async def test_a_real_name_resolving_to_loopback_is_refused_after_resolution() -> None:
    """`localhost` through the machine's own resolver: the address check, not the name check, refuses it."""
    with pytest.raises(EgressRefused, match="refused address"):
        await EgressPolicy().resolve("localhost", 443)
    assert (await EgressPolicy(allow_loopback=True).resolve("localhost", 443)).is_loopback
