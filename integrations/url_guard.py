"""The destination URL guard: which URLs outbound deliveries may be sent to.

A destination URL is written by an operator, and hookdesk's workers post to it from inside the
network, so an unchecked URL lets anyone who may edit a destination make hookdesk reach the
cloud metadata service or an internal system (server-side request forgery). A URL is usable
when its scheme is http or https, its port is from 1 to 65535, and every address its host
resolves to is public, or inside HOOKDESK_INTEGRATIONS["DESTINATION_ALLOWED_NETWORKS"].

It is checked twice: when a destination is saved (services), and again at every new connection
(the transport's network backend connects to the very addresses checked here), since a name can
resolve elsewhere by then (DNS rebinding).

A refusal names the class of the address (loopback, private, ...), never the address itself:
the message reaches the operator who tried, and should not map the internal network for them.
"""

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ImproperlyConfigured

from integrations.conf import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
SETTING = "HOOKDESK_DESTINATION_ALLOWED_NETWORKS"

# Shared address space (RFC 6598) for carrier-grade NAT: not public, yet `ipaddress` calls it
# neither private nor reserved.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """The URL may not be used for a destination; the message says why, for the operator."""


class HostUnresolvable(UrlRefused):
    """The host name does not resolve (now): refused when saved, retried when connecting."""


@dataclass(frozen=True)
class Target:
    """Where a URL's requests connect: the scheme, the host as the HTTP client resolves it
    (IPv6 without brackets, international names in their ASCII form) and the port."""

    scheme: str
    host: str
    port: int


# --- The URL's shape ------------------------------------------------------------------------


def url_target(url: str) -> Target:
    """The scheme, host and port of `url`, parsed as the HTTP client (httpx) parses it, so what
    is checked is what would be connected to; raise UrlRefused for a URL that cannot be used."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise UrlRefused(_unparsable_reason(url, error)) from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.raw_host:
        raise UrlRefused("the URL must be http:// or https:// with a host name")
    port = parsed.port
    if port is not None and not 1 <= port <= 65535:
        raise UrlRefused("the URL's port must be from 1 to 65535")
    return Target(
        scheme=parsed.scheme,
        host=parsed.raw_host.decode("ascii"),
        port=port or DEFAULT_PORTS[parsed.scheme],
    )


def _unparsable_reason(url: str, error: Exception) -> str:
    """Why a URL httpx cannot parse is refused. httpx refuses some spellings of IPv4 that the
    system reads as an address (octal 0177.0.0.1): those are named by their address's class,
    so a refusal reads the same however the address is written."""
    try:
        host = urlsplit(url).hostname or ""
        address = ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, TypeError, ValueError):
        return f"not a valid URL: {error}"
    return address_refusal(address, allowed_networks()) or f"not a valid URL: {error}"


# --- Addresses ------------------------------------------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection, in the resolver's order.

    The one place names are resolved, at save time and at connect time alike (tests replace
    it to play a DNS server). getaddrinfo also reads the odd spellings of IPv4 that inet_aton
    accepts (2130706433, 0x7f.0.0.1, 0177.0.0.1, 127.1): they come back as the address."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, bool]:
    """The IPv4 address an IPv6 one carries, and whether the IPv6 address is only a way of
    writing it (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d) rather than an address of
    its own that routes towards it (6to4 2002:aabb:ccdd::)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, True
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), True
    return address.sixtofour, False


def _class_of(address: IPAddress) -> str | None:
    """The non-public class of one address, or None for a public one."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private or address in _SHARED_ADDRESS_SPACE or _is_site_local(address):
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def _is_site_local(address: IPAddress) -> bool:
    # fec0::/10 was deprecated, yet `ipaddress` still counts it as global.
    return isinstance(address, ipaddress.IPv6Address) and address.is_site_local


def address_class(address: IPAddress) -> str | None:
    """The non-public class of an address as a connection to it reaches it, or None for a
    public one. An IPv6 address that carries an IPv4 one is judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded, only_a_spelling = _embedded_ipv4(address)
        if embedded is not None and (only_a_spelling or _class_of(embedded)):
            return _class_of(embedded)
        for carried in address.teredo or ():
            if _class_of(carried):
                return _class_of(carried)
    return _class_of(address)


def _allowed(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        forms.append(address.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(
        form in network for form in forms for network in networks if form.version == network.version
    )


def address_refusal(address: IPAddress, networks: Iterable[IPNetwork]) -> str | None:
    """Why a destination may not connect to `address`, or None when it may: public, or inside
    one of the allowed `networks`. The reason names the address's class, not the address."""
    if _allowed(address, networks):
        return None
    refused_class = address_class(address)
    if refused_class is None:
        return None
    article = "an" if refused_class[0] in "aeiou" else "a"
    return (
        f"the host resolves to {article} {refused_class} address; destinations may only reach "
        f"public addresses, or networks listed in {SETTING}"
    )


# --- The allow-list -------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _networks_parsed(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip()))
        except ValueError as error:
            raise ImproperlyConfigured(f"{SETTING}: {entry!r} is not a network: {error}") from None
    return tuple(networks)


def allowed_networks() -> tuple[IPNetwork, ...]:
    """The networks destinations may reach although they are not public (the setting's
    CIDRs, given as a list or one comma-separated string); raise ImproperlyConfigured for an
    entry that is not a network."""
    entries = conf()["DESTINATION_ALLOWED_NETWORKS"] or ()
    if isinstance(entries, str):
        entries = entries.split(",")
    return _networks_parsed(tuple(entry for entry in entries if entry.strip()))


# --- Checks ---------------------------------------------------------------------------------

_UNRESOLVABLE = "the host name does not resolve"


def addresses_checked(host: str, port: int) -> list[str]:
    """Resolve `host` and return its addresses, every one usable for a destination; raise
    HostUnresolvable when it does not resolve and UrlRefused when any address is refused
    (one bad answer among good ones is enough for a rebinding attack)."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        # UnicodeError: a label the IDNA codec refuses (e.g. longer than 63 characters).
        raise HostUnresolvable(_UNRESOLVABLE) from None
    if not addresses:
        raise HostUnresolvable(_UNRESOLVABLE)
    networks = allowed_networks()
    # What is connected to is exactly what was checked: the addresses as parsed here (an IPv6
    # one keeps its zone, "fe80::1%eth0").
    parsed = [ipaddress.ip_address(address) for address in addresses]
    for address in parsed:
        refusal = address_refusal(address, networks)
        if refusal:
            raise UrlRefused(refusal)
    return [str(address) for address in parsed]


def url_check(url: str) -> Target:
    """Raise UrlRefused unless `url` may be used for a destination now: its shape, and every
    address its host resolves to. Returns where it connects."""
    target = url_target(url)
    try:
        addresses_checked(target.host, target.port)
    except HostUnresolvable:
        raise HostUnresolvable(
            f"{_UNRESOLVABLE}: a destination's host must resolve when it is saved"
        ) from None
    return target
