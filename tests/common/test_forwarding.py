"""Forwarded headers are believed only from trusted proxies."""

from __future__ import annotations

import pytest

from backendai.common.forwarding import TrustedProxies, parse_networks


def test_untrusted_peer_is_the_client() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_address("203.0.113.9", "1.2.3.4") == "203.0.113.9"
    assert proxies.forwarded("203.0.113.9", "https") is None
    assert TrustedProxies([]).client_address("127.0.0.1", "1.2.3.4") == "127.0.0.1"


def test_trusted_proxy_names_the_client_read_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1"])
    # The client wrote "6.6.6.6" itself; the first trusted hop appended what it saw.
    assert proxies.client_address("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3") == (
        "198.51.100.7"
    )
    assert proxies.client_address("127.0.0.1", None) == "127.0.0.1"
    assert proxies.forwarded("10.9.9.9", "http, https") == "https"
    assert proxies.forwarded("10.9.9.9", None) is None


def test_bad_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks(["10.0.0.0/8", "localhost"])
    assert not TrustedProxies(["127.0.0.1"]).trusts("not-an-address")
