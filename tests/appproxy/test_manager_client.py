"""The manager's own client of app proxies (``manager/appproxy_client.py``) against the real
proxy: the manager's tests drive a fake proxy, and this keeps the two speaking one language."""

from __future__ import annotations

import pytest

from backendai.common.errors import AppProxyUnavailable
from backendai.manager.appproxy_client import AppProxyClient
from backendai.manager.settings import AppProxyEndpoint
from tests.appproxy.conftest import TOKEN, Proxy, ProxyFactory
from tests.appproxy.fakes import spec


async def test_the_managers_client_drives_the_real_proxy(start_proxy: ProxyFactory) -> None:
    one: Proxy = await start_proxy(id="one")
    endpoints = [AppProxyEndpoint(id="one", url=one.control)]
    client = AppProxyClient(TOKEN, endpoints)
    try:
        [load] = await client.by_load()
        assert load.endpoint.id == "one" and load.routes == 0
        status = await client.status("one")
        assert status.id == "one" and status.ports == 6

        first_port = int(one.settings.port_range.split("-")[0])
        wanted = spec(one.agent_port, preferred_port=first_port + 2)
        route = await client.put_route("one", wanted)
        assert route.route_id == wanted.route_id and route.port == first_port + 2
        assert route.url == f"http://127.0.0.1:{route.port}/" and not route.public
        # Replacing (a reopen made public) keeps the port.
        again = await client.put_route("one", wanted.model_copy(update={"public": True}))
        assert again.port == route.port and again.public
        assert (await client.status("one")).routes == 1

        await client.delete_route("one", wanted.route_id)
        assert (await client.status("one")).routes == 0
        await client.delete_route("one", wanted.route_id)  # gone already: still fine
    finally:
        await client.close()


async def test_a_wrong_token_is_an_unavailable_proxy(start_proxy: ProxyFactory) -> None:
    one: Proxy = await start_proxy(id="one")
    client = AppProxyClient(
        "not-the-token-0123456789", [AppProxyEndpoint(id="one", url=one.control)]
    )
    try:
        with pytest.raises(AppProxyUnavailable, match="refused \\(401\\)"):
            await client.status("one")
        assert await client.by_load() == []  # left out, not an error for the caller
    finally:
        await client.close()
