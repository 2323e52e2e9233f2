"""IP addresses: whether one is public (the test webhook targets pass, when saved and when
sent), and the part of a client's address its per-address rate limits count by (``limit_key``).

``ipaddress``'s ``is_global`` alone is not enough for IPv6: several forms carry an IPv4
address inside them that a host or a gateway may reach, and Python (3.11 at least) calls
them global whatever that IPv4 address is. ``64:ff9b::a9fe:a9fe`` reaches 169.254.169.254
through a NAT64 gateway, ``2002:a9fe:a9fe::1`` through a 6to4 relay, and ``::127.0.0.1``
(IPv4-compatible, long deprecated) is loopback to some stacks. So the IPv4 address an IPv6
address embeds must be public too, and the ranges that are never public on the internet,
whatever Python says of them, are refused outright.
"""

import ipaddress
import re

# What one IPv6 host may hold: a subscriber (a home, a server, a VM) is routed a /64 at least
# and picks any address in it, so a limit counted per address would be 2**64 limits.
HOST_PREFIX = 64
# NAT64's well-known prefix: the last 32 bits are the IPv4 address the gateway reaches.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
# Two more whose last 32 bits are an IPv4 address: the IPv4-compatible addresses (``::a.b.c.d``,
# long deprecated; ``::`` and ``::1`` are in it too) and SIIT's IPv4-translated ones
# (``::ffff:0:a.b.c.d``, which a translator maps to that IPv4 address).
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
# Never public: site-local (deprecated, routed inside a site only), the local-use NAT64
# prefix (whose IPv4 address sits where each network's prefix length puts it), and the
# IPv4-compatible and IPv4-translated addresses.
NEVER_PUBLIC = (
    ipaddress.ip_network("fec0::/10"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    IPV4_COMPATIBLE,
    IPV4_TRANSLATED,
)
# What the registries mark not globally reachable that Python 3.11 calls global: all of
# 192.0.0.0/24 but its two anycast services (``GLOBAL_IN_NOT_GLOBAL``: Port Control Protocol
# and TURN), and for IPv6 the dummy prefix, the documentation prefix and SRv6's segment
# identifiers. (6to4's ``2002::/16``, which newer Pythons refuse whole, is not here: it is
# public when the IPv4 address inside is, as ``is_public`` checks.)
NOT_GLOBAL = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("100:0:0:1::/64"),
    ipaddress.ip_network("3fff::/20"),
    ipaddress.ip_network("5f00::/16"),
)
GLOBAL_IN_NOT_GLOBAL = (
    ipaddress.ip_address("192.0.0.9"),
    ipaddress.ip_address("192.0.0.10"),
)
# The port a proxy may write after a client's address (``192.0.2.1:5678``, ``[2001:db8::1]:443``).
_PORT = re.compile(r":[0-9]{1,5}")


def is_public(text):
    """Whether the address ``text`` (an IPv6 zone ``%...`` is ignored) is public.

    Public: ``is_global``, outside ``NOT_GLOBAL`` (but for ``GLOBAL_IN_NOT_GLOBAL``) and not
    multicast (no one host answers a connection to a group), and for IPv6 outside
    ``NEVER_PUBLIC``, with every IPv4 address it embeds (IPv4-mapped, 6to4, Teredo's server
    and client, NAT64) public as well.

    Raises:
        ValueError: ``text`` is not an IP address.
    """
    address = ipaddress.ip_address(text.split("%")[0])
    if address.version == 6:
        if any(address in network for network in NEVER_PUBLIC):
            return False
        if not all(_is_public_address(inner) for inner in embedded_ipv4(address)):
            return False
    return _is_public_address(address)


def _is_public_address(address):
    """``is_public`` of ``address`` itself, whatever address it may carry inside."""
    if address.is_multicast or not address.is_global:
        return False
    return address in GLOBAL_IN_NOT_GLOBAL or not any(address in network for network in NOT_GLOBAL)


def embedded_ipv4(address):
    """The IPv4 addresses an IPv6 ``address`` carries (none for an ordinary one)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client), the client's bits already un-inverted
    if address in NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def bare_address(text):
    """``text`` as a proxy may write a client's address, without what is not the address:
    surrounding whitespace, a port (``192.0.2.1:5678``) and the brackets around an IPv6
    address (``[2001:db8::1]``, ``[2001:db8::1]:443``). Text that is no address so written
    (``unknown``, ``2001:db8::1`` itself, whose last group is no port) is returned stripped."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if bracket and (not rest or _PORT.fullmatch(rest)) and _is_address(host):
            return host
        return text
    host, colon, port = text.rpartition(":")
    if colon and ":" not in host and _PORT.fullmatch(colon + port) and _is_address(host):
        return host  # an IPv4 address and its port (an IPv6 address has several colons)
    return text


def _is_address(text):
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def limit_key(text):
    """What a per-address limit counts the client address ``text`` under.

    An IPv4 address is itself. An IPv6 address is its /64 (``2001:db8:1:2::/64``): one host
    can rotate through every address of its /64, so each of them alone would buy a fresh
    budget. An IPv6 address that stands for an IPv4 client is that IPv4 address, counted
    with that address's own requests: IPv4-mapped (``::ffff:192.0.2.1``, as a dual-stack
    socket reports an IPv4 client), NAT64's well-known prefix (``64:ff9b::192.0.2.1``, as a
    SIIT translator in front reports each IPv4 client, who would otherwise all share its
    /64), IPv4-translated (``::ffff:0:192.0.2.1``), IPv4-compatible (``::192.0.2.1``), 6to4
    (``2002:c000:201::/48``) and Teredo (the client's address it carries). ``::1`` (loopback)
    and ``::`` are themselves, not the /64 of the IPv4-compatible addresses.

    ``text`` is an address as ``client_ip`` gives it, a proxy's port and brackets dropped
    already (``bare_address``). A zone (``%eth0``) is ignored; text that is no address
    (``unknown``) is kept as it stands.
    """
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return text
    if address.version == 4:
        return str(address)
    inner = _client_ipv4(address)
    if inner is not None:
        return str(inner)
    if address.is_loopback or address.is_unspecified:
        return str(address)
    return str(ipaddress.IPv6Network((address, HOST_PREFIX), strict=False))


def _client_ipv4(address):
    """The IPv4 client an IPv6 ``address`` stands for, or None (an ordinary IPv6 address)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    in_compatible = address in IPV4_COMPATIBLE and not (address.is_loopback or address.is_unspecified)
    if in_compatible or address in NAT64_WELL_KNOWN or address in IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client)
    return None
