"""What a per-address rate limit counts a client address under (``limit_key`` of ``client_ip``)."""

import falcon.testing
import pytest

from app.api.authentication import client_ip
from app.services.addresses import bare_address, is_public, limit_key


@pytest.mark.parametrize("address, key", [
    ("192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.1", "192.0.2.1"),  # IPv4-mapped: a dual-stack socket's IPv4 client
    # NAT64's well-known prefix: each IPv4 client behind a SIIT translator, not one /64 for all.
    ("64:ff9b::192.0.2.1", "192.0.2.1"),
    ("64:ff9b::c633:6407", "198.51.100.7"),
    ("::ffff:0:192.0.2.1", "192.0.2.1"),  # IPv4-translated
    ("::192.0.2.1", "192.0.2.1"),  # IPv4-compatible
    ("::1", "::1"),  # loopback, not the /64 of the IPv4-compatible addresses
    ("::", "::"),
    ("2002:c000:201::1", "192.0.2.1"),  # 6to4: the IPv4 address of its /48
    ("2002:c000:201:5::9", "192.0.2.1"),
    # Teredo: the client's address (its bits inverted in the last 32), not the server's.
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),
    ("fe80::1%eth0", "fe80::/64"),
    ("unknown", "unknown"),
])
def test_each_kind_of_address_is_counted_under_its_key(address, key):
    assert limit_key(address) == key


@pytest.mark.parametrize("written, key", [
    ("192.0.2.1:5678", "192.0.2.1"),
    (" 192.0.2.1 ", "192.0.2.1"),
    ("[2001:db8::1]:443", "2001:db8::/64"),
    ("[2001:db8::1]", "2001:db8::/64"),
    ("[::1]:80", "::1"),
    ("[64:ff9b::192.0.2.1]:443", "192.0.2.1"),
])
def test_a_port_brackets_and_spaces_a_proxy_wrote_are_not_part_of_the_key(written, key):
    """``client_ip`` drops them from the forwarded address; ``limit_key`` counts what is left."""
    req = falcon.testing.create_req(headers={"X-Forwarded-For": f"198.51.100.9,{written}"})
    assert limit_key(client_ip(req, trusted_proxy_count=1)) == key


@pytest.mark.parametrize("text", ["2001:db8::1", "::1", "unknown", "host:80", "[2001:db8::1]x", "1.2.3.4:http"])
def test_text_that_is_no_address_with_a_port_is_kept(text):
    assert bare_address(text) == text


# Not globally reachable, though Python 3.11's ``is_global`` says they are: IETF Protocol
# Assignments (192.0.0.0/24: the dummy address, NAT64 discovery's neighbours, the rest
# unassigned), the IPv6 dummy and documentation prefixes and SRv6's segment identifiers,
# also carried inside an IPv6 address.
NOT_GLOBALLY_REACHABLE = ["192.0.0.8", "192.0.0.11", "192.0.0.100", "192.0.0.255", "100:0:0:1::1", "3fff::1",
                          "3fff:fff:ffff::1", "5f00::1", "::ffff:192.0.0.8", "64:ff9b::c000:8", "2002:c000:8::1"]


@pytest.mark.parametrize("address", NOT_GLOBALLY_REACHABLE)
def test_addresses_the_registries_say_are_not_globally_reachable_are_not_public(address):
    assert not is_public(address)


# Globally reachable: the two anycast services of 192.0.0.0/24 (Port Control Protocol and
# TURN), and the addresses either side of the ranges above.
@pytest.mark.parametrize("address", ["192.0.0.9", "192.0.0.10", "192.0.1.1", "191.255.255.255",
                                     "100:0:0:2::1", "3fff:1000::1", "5f01::1", "2606:4700:4700::1111"])
def test_globally_reachable_neighbours_of_those_ranges_are_public(address):
    assert is_public(address)
