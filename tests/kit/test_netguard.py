"""The outgoing-address policy against an oracle built from `ipaddress` (and the C library's
own parser for IPv4 spellings), and the URL text check on every known trick."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mirage.kit.netguard import (
    AddressPolicy,
    ForbiddenAddress,
    IPAddress,
    UnsafeURL,
    check_url,
    forbidden_reason,
    parse_ip_literal,
)

# Ranges the policy refuses on purpose although `ipaddress` calls them global.
EXTRA_V4 = [ipaddress.IPv4Network(n) for n in ("192.0.0.0/24", "192.88.99.0/24")]
EXTRA_V6 = [
    ipaddress.IPv6Network(n)
    for n in ("2001::/23", "2002::/16", "3fff::/20", "5f00::/16", "64:ff9b:1::/48", "fec0::/10")
]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
GLOBAL_V6 = ipaddress.IPv6Network("2000::/3")


def oracle_forbidden(ip: IPAddress) -> bool:
    """Not a public unicast address, by the standard library's registry flags."""
    if isinstance(ip, ipaddress.IPv4Address):
        return not ip.is_global or ip.is_multicast or any(ip in n for n in EXTRA_V4)
    if ip.ipv4_mapped is not None:
        return oracle_forbidden(ip.ipv4_mapped)
    if ip in NAT64:
        return oracle_forbidden(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None and oracle_forbidden(ip.sixtofour):
        return True
    if ip.teredo is not None and oracle_forbidden(ip.teredo[1]):
        return True
    return (
        ip not in GLOBAL_V6
        or not ip.is_global
        or ip.is_multicast
        or ip.is_site_local
        or any(ip in n for n in EXTRA_V6)
    )


def _mapped(ip: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("::ffff:0:0")) | int(ip))


def _nat64(ip: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(NAT64.network_address) | int(ip))


special_v4 = st.sampled_from(
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ]
).flatmap(lambda n: st.ip_addresses(network=n))
v4 = st.one_of(st.ip_addresses(v=4), special_v4)
v6 = st.one_of(
    st.ip_addresses(v=6),
    v4.map(_mapped),
    v4.map(_nat64),
    st.sampled_from(["::/127", "fc00::/7", "fe80::/10", "ff00::/8", "2002::/16"]).flatmap(
        lambda n: st.ip_addresses(network=n)
    ),
)


@given(st.one_of(v4, v6))
@example(ipaddress.ip_address("169.254.169.254"))
@example(ipaddress.ip_address("100.64.0.1"))
@example(ipaddress.ip_address("::ffff:127.0.0.1"))
@example(ipaddress.ip_address("::ffff:8.8.8.8"))
@example(ipaddress.ip_address("64:ff9b::8.8.8.8"))
@example(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
@example(ipaddress.ip_address("fd00:ec2::254"))
@example(ipaddress.ip_address("2606:4700:4700::1111"))
def test_policy_matches_the_oracle(ip: IPAddress) -> None:
    assert (forbidden_reason(ip) is not None) == oracle_forbidden(ip), forbidden_reason(ip)


@given(v4)
def test_every_ipv6_spelling_of_a_forbidden_ipv4_is_forbidden(ip: ipaddress.IPv4Address) -> None:
    forbidden = forbidden_reason(ip) is not None
    for form in (_mapped(ip), _nat64(ip)):
        assert (forbidden_reason(form) is not None) == forbidden


# --- IPv4 spellings: what the C library accepts as an address, we recognize ----------------

_part = st.one_of(
    st.integers(0, 2**32 - 1).map(str),
    st.integers(0, 2**32 - 1).map(lambda n: f"0{n:o}"),
    st.integers(0, 2**32 - 1).map(lambda n: f"0x{n:x}"),
    st.integers(0, 255).map(str),
    st.text("0123456789abcdefxX", min_size=1, max_size=6),
)
spellings = st.lists(_part, min_size=1, max_size=4).map(".".join)


def _libc(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@given(spellings)
@example("127.1")
@example("2130706433")
@example("0x7f000001")
@example("0177.0.0.1")
@example("0x7f.0.0.1")
@example("017700000001")
@example("127.0.1")
@example("0x")
def test_every_ipv4_spelling_the_c_library_accepts_is_recognized(text: str) -> None:
    libc = _libc(text)
    if libc is not None:
        assert parse_ip_literal(text) == libc


@given(st.ip_addresses(v=4))
def test_decimal_hex_and_octal_forms_of_an_address_are_judged_like_it(
    ip: ipaddress.IPv4Address,
) -> None:
    n = int(ip)
    octets = ip.packed
    forms = [
        str(n),
        f"0x{n:x}",
        f"0{n:o}",
        ".".join(f"0{b:o}" for b in octets),
        ".".join(f"0x{b:02x}" for b in octets),
        f"{octets[0]}.{octets[1]}.{int.from_bytes(octets[2:], 'big')}",
        f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}",
    ]
    for form in forms:
        assert parse_ip_literal(form) == ip, form
        if forbidden_reason(ip) is None:
            assert check_url(f"https://{form}/v1")
        else:
            with pytest.raises(ForbiddenAddress):
                check_url(f"https://{form}/v1")


BAD_URLS = [
    "http://127.0.0.1:11434/v1",
    "http://127.1/v1",
    "http://2130706433/v1",
    "http://0x7f000001/v1",
    "http://0177.0.0.1/v1",
    "http://0x7f.0.0.1/v1",
    "http://[::1]/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://[::ffff:7f00:1]/v1",
    "http://[64:ff9b::7f00:1]/v1",
    "http://[::]/v1",
    "http://0.0.0.0/v1",
    "http://0/v1",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1%25eth0]/v1",
    "http://10.0.0.8/v1",
    "http://172.16.5.4/v1",
    "http://192.168.1.10/v1",
    "http://100.64.0.1/v1",
    "http://[fc00::1]/v1",
    "http://224.0.0.1/v1",
    "http://240.0.0.1/v1",
    "http://255.255.255.255/v1",
    "http://localhost/v1",
    "http://LOCALHOST.:8000/v1",
    "http://api.localhost/v1",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://printer.local/v1",
    "http://evil.example.com@127.0.0.1/v1",
    "http://user:pass@api.openai.com/v1",
    "http://api.openai.com\\@127.0.0.1/v1",
    "http://127.0.0.1%2e/v1",
    "http://ⓛocalhost/v1",
    "http://１２７.０.０.１/v1",
    "http://example.123/v1",
    "http:/127.0.0.1/v1",
    "http:///v1",
    "http://exa mple.com/v1",
    "http://example.com:0/v1",
    "http://example.com:99999/v1",
    "ftp://api.openai.com/v1",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "javascript:alert(1)",
    "//api.openai.com/v1",
]
GOOD_URLS = [
    "https://api.openai.com/v1",
    "http://llm.test/v1",
    "https://openrouter.ai/api/v1",
    "https://8.8.8.8/v1",
    "https://[2606:4700:4700::1111]:8443/v1",
    "https://xn--bcher-kva.example/v1",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(UnsafeURL) as info:
        check_url(url)
    assert str(info.value)


@pytest.mark.parametrize("url", GOOD_URLS)
def test_public_urls_pass(url: str) -> None:
    assert check_url(url)


def test_the_operator_can_allow_private_hosts_and_networks() -> None:
    policy = AddressPolicy.from_setting("llm.internal, 10.0.5.0/24,[fd00::5]")
    assert check_url("http://10.0.5.7:8000/v1", policy) == "10.0.5.7"
    assert check_url("http://llm.internal/v1", policy) == "llm.internal"
    assert check_url("http://[fd00::5]/v1", policy) == "fd00::5"
    with pytest.raises(ForbiddenAddress):
        check_url("http://10.0.6.1/v1", policy)
    with pytest.raises(UnsafeURL):
        check_url("http://localhost/v1", policy)
    # Resolved addresses: the allowed name may resolve anywhere, others only to allowed nets.
    policy.check_address("llm.internal", ipaddress.ip_address("127.0.0.1"))
    policy.check_address("other.example", ipaddress.ip_address("10.0.5.9"))
    with pytest.raises(ForbiddenAddress):
        policy.check_address("other.example", ipaddress.ip_address("10.0.6.9"))
    with pytest.raises(ValueError, match="not a"):
        AddressPolicy.from_setting("http://x/")
    with pytest.raises(ValueError, match="not a host name"):
        AddressPolicy.from_setting("exa mple")


@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda h: f"http://{h}/v1", st.text(max_size=40)),
        st.builds(
            lambda h: f"https://[{h}]:8000/v1", st.text("0123456789abcdef:.%[]", max_size=40)
        ),
    )
)
def test_any_text_is_either_accepted_or_refused_with_a_reason(url: str) -> None:
    """Hostile input never escapes as another exception (the API would answer 500)."""
    try:
        host = check_url(url)
    except UnsafeURL as exc:
        assert str(exc)
    else:
        assert host and host.isascii()
