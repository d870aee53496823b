"""Which network addresses an outgoing request may reach, and which peers may speak for
clients (X-Forwarded-For). Pure functions of their inputs: no DNS, no I/O.

Outgoing requests to URLs a tenant controls (the AI base URL) must never reach the
deployment's own network: loopback, link-local (cloud metadata at 169.254.169.254), private
ranges, CGNAT, unspecified, multicast, reserved and documentation ranges, and the IPv6 forms
that embed such an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo). The text check
(`check_url`) refuses what is visible in the URL; the address check (`forbidden_reason`) is
applied again to every address the name resolves to, at connection time.

An operator may allow specific private hosts or networks (`AddressPolicy.allow`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "AddressPolicy",
    "ForbiddenAddress",
    "IPAddress",
    "IPNetwork",
    "UnsafeURL",
    "check_host",
    "check_url",
    "embedded_ipv4",
    "forbidden_reason",
    "forwarded_client",
    "parse_ip_literal",
    "parse_networks",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeURL(ValueError):
    """The URL is not acceptable as an outgoing target; the message says why (for people)."""


class ForbiddenAddress(UnsafeURL):
    """A host resolved to (or is) an address outgoing requests must not reach."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        if _same_address(host, address):
            super().__init__(f"{address} is a {reason} address")
        else:
            super().__init__(f"{host} points to {address}, a {reason} address")
        self.host = host
        self.address = address
        self.reason = reason


def _same_address(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False


# Ranges that are not the public Internet, with a name a person understands. Checked after
# the address's own flags (is_loopback, ...), which cover most of them.
_V4_BLOCKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),  # "this network"
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol)"),
    ("192.0.2.0/24", "reserved (documentation)"),
    ("192.88.99.0/24", "reserved (6to4 relay)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "reserved (documentation)"),
    ("203.0.113.0/24", "reserved (documentation)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
)
_V6_BLOCKS: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "reserved (local NAT64)"),
    ("100::/64", "reserved (discard)"),
    ("2001::/23", "reserved (IETF protocol)"),
    ("2001:db8::/32", "reserved (documentation)"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "reserved (documentation)"),
    ("5f00::/16", "reserved (segment routing)"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_V4_NETS = tuple((ipaddress.IPv4Network(n), why) for n, why in _V4_BLOCKS)
_V6_NETS = tuple((ipaddress.IPv6Network(n), why) for n, why in _V6_BLOCKS)
# Global unicast is 2000::/3; everything else in IPv6 is not routable on the Internet.
_V6_GLOBAL = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPAT = ipaddress.IPv6Network("::/96")

# Names that always mean "this machine" or a cloud metadata service, whatever DNS says.
_LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one
    (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _V4_COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why outgoing requests must not reach `ip` ("loopback", "private", ...), or None when
    it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = forbidden_reason(inner)
            if why is not None:
                return f"{why} (inside IPv6)"
            # ::ffff:a.b.c.d and NAT64 (DNS64 on IPv6-only hosts) reach exactly that IPv4.
            if ip.ipv4_mapped is not None or ip in _NAT64:
                return None
        if ip.scope_id:
            return "link-local (scoped)"
        for net6, why in _V6_NETS:
            if ip in net6:
                return why
        if ip not in _V6_GLOBAL:
            return "reserved"
    else:
        for net4, why in _V4_NETS:
            if ip in net4:
                return why
    # Anything the standard library still does not consider global (new registrations).
    if not ip.is_global or ip.is_multicast:
        return "non-public"
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """`host` as an address if it spells one in any form a resolver accepts: dotted quads,
    decimal (2130706433), hex (0x7f000001), octal (0177.0.0.1), short forms (127.1), and IPv6
    with or without brackets. None when it is a name."""
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h)
        except ValueError:
            return None
    parts = h.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values: list[int] = []
    for part in parts:
        if not part.isascii():
            return None
        try:
            if part.startswith(("0x", "0X")):
                values.append(int(part[2:], 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                if not part.isascii() or not part.isdigit():
                    return None
                values.append(int(part))
        except ValueError:
            return None
    # inet_aton: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in head:
        number = number << 8 | v
    number = number << (8 * (5 - len(values))) | last
    return ipaddress.IPv4Address(number)


def parse_networks(value: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """A comma-separated (or iterable) list of addresses and CIDR networks; ValueError names
    the first entry that is neither."""
    items = value.split(",") if isinstance(value, str) else list(value)
    nets: list[IPNetwork] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {item!r}") from exc
    return tuple(nets)


@dataclass(frozen=True)
class AddressPolicy:
    """What outgoing requests to tenant-controlled URLs may reach. `allow_hosts` (names) and
    `allow_networks` are the operator's explicit exceptions (MIRAGE_AI_ALLOW_PRIVATE_HOSTS)."""

    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_setting(cls, value: str | Sequence[str] | None) -> AddressPolicy:
        items = (value.split(",") if isinstance(value, str) else list(value or ())) or []
        hosts: set[str] = set()
        nets: list[IPNetwork] = []
        for raw in items:
            item = raw.strip().lower().rstrip(".")
            if not item:
                continue
            literal = parse_ip_literal(item) if "/" not in item else None
            if "/" in item or literal is not None:
                nets.extend(parse_networks([str(literal) if literal else item]))
            elif all(_HOST_LABEL.match(label) for label in item.split(".")):
                hosts.add(item)
            else:
                raise ValueError(f"not a host name, address or network: {raw.strip()!r}")
        return cls(frozenset(hosts), tuple(nets))

    def host_allowed(self, host: str) -> bool:
        return _norm_host(host) in self.allow_hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        return any(
            c.version == n.version and c in n for c in candidates for n in self.allow_networks
        )

    def check_address(self, host: str, ip: IPAddress) -> None:
        """Raise ForbiddenAddress unless `ip` (which `host` resolved to) may be reached."""
        if self.host_allowed(host) or self.address_allowed(ip):
            return
        why = forbidden_reason(ip)
        if why is not None:
            raise ForbiddenAddress(host, str(ip), why)


def _norm_host(host: str) -> str:
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    return h


def check_url(url: str, policy: AddressPolicy | None = None) -> str:
    """Refuse a URL that is not a plain http(s) URL to a public host, judging by its text.
    Returns the normalized host. (Names are checked again after resolution, at request time.)"""
    policy = policy or AddressPolicy()
    if any(ord(c) < 0x21 or c in "\\" for c in url):
        raise UnsafeURL("the URL must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"the URL cannot be parsed ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("the URL must start with http:// or https://")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL must not contain a user name or password (user@host)")
    host = parts.hostname or ""
    if not host:
        raise UnsafeURL("the URL has no host name")
    if port == 0:
        raise UnsafeURL("the URL's port must be between 1 and 65535")
    return check_host(host, policy)


def check_host(host: str, policy: AddressPolicy | None = None) -> str:
    """Refuse a host name (or address) that names the deployment's own network, judging by its
    text: what ``check_url`` applies to a URL's host, for targets that are not URLs (an SMTP
    server). Returns the normalized host."""
    policy = policy or AddressPolicy()
    if not host or any(ord(c) < 0x21 or c in "\\/@" for c in host):
        raise UnsafeURL("the host name must not be empty or contain spaces, /, @ or backslashes")
    norm = _norm_host(host)
    if policy.host_allowed(norm):
        return norm
    literal = parse_ip_literal(norm)
    if literal is not None:
        if policy.address_allowed(literal):
            return norm
        why = forbidden_reason(literal)
        if why is not None:
            raise ForbiddenAddress(norm, str(literal), why)
        return norm
    if norm in _LOCAL_NAMES or norm.endswith(_LOCAL_SUFFIXES):
        raise UnsafeURL(f"{norm} is a local or internal host name")
    labels = norm.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels if not label.startswith("xn--")):
        raise UnsafeURL(f"{norm} is not a valid host name")
    if labels[-1].isdigit():
        raise UnsafeURL(f"{norm} looks like an IP address in an unusual spelling")
    return norm


# --- X-Forwarded-For ---------------------------------------------------------------------


def _forwarded_entry(value: str) -> str:
    """One X-Forwarded-For entry without port or brackets (1.2.3.4:56, [::1]:80)."""
    v = value.strip().strip('"')
    if v.startswith("["):
        return v[1 : v.index("]")] if "]" in v else v[1:]
    if v.count(":") == 1:
        return v.split(":", 1)[0]
    return v


def _trusted(value: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in proxies)


def forwarded_client(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[IPNetwork]
) -> str:
    """The client address of a request: the direct peer, unless the peer is a trusted proxy;
    then the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to
    its left were written by the client and prove nothing)."""
    client = peer or "unknown"
    if not proxies or not _trusted(client, proxies):
        return client
    entries = [_forwarded_entry(e) for h in forwarded_for for e in h.split(",") if e.strip()]
    for entry in reversed(entries):
        if not _trusted(entry, proxies):
            return entry[:64]
        client = entry
    return client
