"""The registry's URL and address rules: parsing and rebuilding, special-purpose ranges, the allow-list,
and the guarded transports checking every connection (real HTTP on loopback)."""

from __future__ import annotations

import ipaddress

import httpx
import httpx2
import pytest

from meshline.errors import BadRequest
from meshline.resilience.address_guard import (
    AddressGuard,
    AddressNotAllowed,
    GuardedTransport,
    GuardedTransport2,
    special_purpose,
)
from meshline.resilience.service_url import ServiceUrl
from meshline.testing.serve import serve_in_thread
from tests.security.registration_upstreams import ScriptedDns, Upstream


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("http://Tools.Example:80/", "http://tools.example"),
        ("https://tools.example:8443/mcp/", "https://tools.example:8443/mcp"),
        ("http://[::1]:9300", "http://[::1]:9300"),
        ("  http://127.0.0.1:9300/a/b  ", "http://127.0.0.1:9300/a/b"),
    ],
)
def test_urls_are_parsed_and_rebuilt_from_their_parts(raw: str, base: str) -> None:
    url = ServiceUrl.parse(raw)
    assert url.base == base
    assert url.endpoint("v1", "manifest") == f"{base}/v1/manifest"
    with pytest.raises(ValueError):
        url.endpoint("..")


@pytest.mark.parametrize(
    "raw",
    [
        "http://h/x#",
        "http://h/x?",
        "http://h/x?a=1",
        "http://u:p@h/",
        "http://u@h/",
        "http://h/%2e%2e/x",
        "http://h/./x",
        "http://h//x",
        "http://h\\x",
        "ftp://h/",
        "h:80",
        "http://[1.2.3.4]/",
        "http://[fe80::1%25eth0]/",
        "http://h:99999/",
        "http://h_x/",
        "http://h x/",
        "",
    ],
)
def test_malformed_urls_are_a_400_that_does_not_echo_them(raw: str) -> None:
    with pytest.raises(BadRequest) as refused:
        ServiceUrl.parse(raw)
    assert refused.value.code == "invalid_url" and (not raw or raw not in refused.value.detail)


@pytest.mark.parametrize(
    ("address", "special"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("0.0.0.0", True),
        ("192.0.2.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("2002:a9fe:a9fe::", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("2001:db8::1", True),
    ],
)
def test_special_purpose_ranges(address: str, special: bool) -> None:
    assert special_purpose(ipaddress.ip_address(address)) is special


def test_the_allow_list_covers_ipv4_mapped_addresses() -> None:
    guard = AddressGuard(["127.0.0.0/8"])
    assert guard.allowed(ipaddress.ip_address("127.0.0.9"))
    assert guard.allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not guard.allowed(ipaddress.ip_address("::1"))
    assert not guard.allowed(ipaddress.ip_address("10.0.0.1"))
    assert guard.allowed(ipaddress.ip_address("1.1.1.1"))


async def test_one_private_answer_refuses_the_name() -> None:
    guard = AddressGuard(resolver=ScriptedDns(["1.1.1.1", "10.0.0.1"]))
    with pytest.raises(AddressNotAllowed) as refused:
        await guard.addresses("mixed.example", 80)
    assert "mixed.example" in refused.value.detail and "10.0.0.1" not in refused.value.detail


async def test_every_connection_of_the_guarded_transports_is_checked() -> None:
    peer = Upstream(manifest={"name": "x", "kind": "agent"})
    with serve_in_thread(peer) as base:
        port = base.rsplit(":", 1)[1]
        dns = ScriptedDns(["127.0.0.1"], ["127.0.0.1"], ["192.168.1.1"])
        guard = AddressGuard(["127.0.0.1/32"], resolver=dns)
        async with httpx.AsyncClient(transport=GuardedTransport(guard)) as http:
            assert (await http.get(f"http://svc.example:{port}/readyz")).status_code == 200
            assert (await http.get(f"http://svc.example:{port}/readyz")).status_code == 200
            with pytest.raises(AddressNotAllowed):
                await http.get(f"http://svc.example:{port}/readyz")
        assert dns.lookups == ["svc.example"] * 3, "no connection is kept: each request resolves and checks again"
        assert peer.seen == ["/readyz", "/readyz"]
        async with httpx2.AsyncClient(transport=GuardedTransport2(AddressGuard())) as http2:
            with pytest.raises(AddressNotAllowed):
                await http2.get(f"{base}/readyz")
        assert peer.seen == ["/readyz", "/readyz"]
