"""``backendai-server``: the server-side processes and their maintenance commands."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from backendai.agent.main import create_app as create_agent_app
from backendai.agent.main import run_agent
from backendai.agent.settings import AgentSettings
from backendai.appproxy.app import create_app as create_appproxy_app
from backendai.appproxy.settings import AppProxySettings
from backendai.common.errors import PlatformError
from backendai.common.private import private_dir
from backendai.common.settings import load_settings
from backendai.common.statuses import AgentStatus
from backendai.manager.agent_client import load_agent_token
from backendai.manager.app import create_app as create_manager_app
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.migrate import upgrade
from backendai.manager.db.models import Agent
from backendai.manager.services.bootstrap import bootstrap
from backendai.manager.settings import AppProxyEndpoint, ManagerSettings
from backendai.server import credentials
from backendai.server.runner import Site, serve
from backendai.storage.app import create_app as create_storage_app
from backendai.storage.settings import StorageSettings
from backendai.webserver.app import create_app as create_webserver_app
from backendai.webserver.settings import WebserverSettings

CONFIG_OPTION = click.option(
    "-f",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A TOML settings file with [manager], [webserver], ... tables.",
)


def local_agent_id(data_dir: Path) -> str:
    """An agent id unique to this installation: two platforms sharing one Docker Engine (a
    developer's `make up` and a test run) must never take each other's containers for their
    own, which they would with the same hostname-based id."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


def _fail(e: PlatformError) -> None:
    click.echo(f"✗ {e}", err=True)
    sys.exit(2)


@click.group()
@click.option("--debug", is_flag=True, help="Log debug messages.")
def main(debug: bool) -> None:
    """Run and maintain the server-side processes of the platform."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _init_database(settings: ManagerSettings) -> Any:
    private_dir(settings.data_dir)
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await bootstrap(create_session_factory(engine))
    finally:
        await engine.dispose()


AGENT_WAIT_S = 30.0


async def _wait_for_agent(settings: ManagerSettings, agent_id: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AGENT_WAIT_S
        while loop.time() < deadline:
            async with engine.connect() as conn:
                status = await conn.scalar(sa.select(Agent.status).where(Agent.id == agent_id))
            if status is AgentStatus.ALIVE:
                return
            await asyncio.sleep(0.1)
        logging.getLogger(__name__).warning(
            "the agent %s has not registered after %.0f s; sessions wait until it does",
            agent_id, AGENT_WAIT_S,
        )  # fmt: skip
    finally:
        await engine.dispose()


@main.command()
@CONFIG_OPTION
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where all state lives (database, credentials). [default: ~/.local/share/backendai]",
)
@click.option("--host", default=None, help="Address to listen on. [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Manager API port. [default: 8081]")
@click.option(
    "--webserver-port",
    type=int,
    default=None,
    help="Webserver (login, web UI) port. [default: 8090]",
)
@click.option("--agent-port", type=int, default=None, help="Local agent API port. [default: 6001]")
@click.option(
    "--storage-port",
    type=int,
    default=None,
    help="Storage (virtual folder files) port. [default: 6021]",
)
@click.option(
    "--appproxy-port", type=int, default=None, help="App proxy control API port. [default: 6041]"
)
@click.option(
    "--appproxy-ports",
    "appproxy_port_range",
    default=None,
    help="The ports apps are served on in browsers, e.g. 10200-10299. [default: 10200-10299]",
)
def up(
    config_file: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    webserver_port: int | None,
    agent_port: int | None,
    storage_port: int | None,
    appproxy_port: int | None,
    appproxy_port_range: str | None,
) -> None:
    """Start the whole platform on this machine in the foreground (embedded defaults)."""
    try:
        manager = load_settings(
            ManagerSettings, config_file, data_dir=data_dir, host=host, port=port
        )
        web = load_settings(WebserverSettings, config_file, host=host, port=webserver_port)
        # The storage shares the manager's data dir: both read the storage-token file there.
        storage = load_settings(
            StorageSettings,
            config_file,
            host=host,
            port=storage_port,
            data_dir=manager.data_dir,
            token=manager.storage_token,
        )
        if "storage_url" not in manager.model_fields_set:
            manager = manager.model_copy(update={"storage_url": storage.url})
        manager_url = f"http://{manager.host}:{manager.port}"
        # The app proxy shares the data dir too: both read the appproxy-token file there.
        appproxy = load_settings(
            AppProxySettings,
            config_file,
            host=host,
            port=appproxy_port,
            port_range=appproxy_port_range,
            data_dir=manager.data_dir,
            token=manager.appproxy_token,
            manager_url=manager_url,
        )
        if "appproxies" not in manager.model_fields_set:
            endpoint = AppProxyEndpoint(id=appproxy.id, url=appproxy.url)
            manager = manager.model_copy(update={"appproxies": [endpoint]})
        agent = load_settings(
            AgentSettings,
            config_file,
            host=host,
            port=agent_port,
            manager_url=manager_url,
            token=load_agent_token(manager),
            data_dir=manager.data_dir / "agent",
        )
        if "id" not in agent.model_fields_set:
            agent = agent.model_copy(update={"id": local_agent_id(manager.data_dir)})
        if "volume_mounts" not in agent.model_fields_set:
            # On one machine the agent sees each volume where the storage keeps it.
            mounts = {name: v.path for name, v in storage.volumes.items()}
            agent = agent.model_copy(update={"volume_mounts": mounts})
        if "hidden_cookies" not in appproxy.model_fields_set:
            # Apps share the web UI's host name: its login cookie must never reach them.
            appproxy = appproxy.model_copy(update={"hidden_cookies": [web.session_cookie]})
        if agent.app_handoff and "local_agents" not in appproxy.model_fields_set:
            # The proxy and the agent share this host: apps' connections are handed over.
            local = {agent.addr: agent.app_handoff_socket}
            appproxy = appproxy.model_copy(update={"local_agents": local})
    except PlatformError as e:
        _fail(e)
        return

    async def run() -> None:
        users = await _init_database(manager)

        async def ready(urls: list[str]) -> None:
            # Ready means sessions can start: the agent has registered itself and its images.
            await _wait_for_agent(manager, agent.id)
            doc = credentials.write(manager.data_dir, urls[0], urls[1], users)
            proxy = f"App proxy (apps in browsers): {urls[3]} (app ports {appproxy.port_range})"
            credentials.show(doc, manager.data_dir / credentials.CREDENTIALS_FILE, [proxy])

        web_settings = web.model_copy(update={"manager_url": manager_url})
        if "storage_url" not in web.model_fields_set:
            web_settings = web_settings.model_copy(update={"storage_url": storage.url})
        sites = [
            Site("manager", create_manager_app(manager, migrate=False), manager.host, manager.port),
            Site("webserver", create_webserver_app(web_settings), web.host, web.port),
            # Before the agent: sessions that mount folders may start as soon as it registers.
            Site("storage", create_storage_app(storage), storage.host, storage.port),
            # It asks the manager for its routes until the manager answers.
            Site("appproxy", create_appproxy_app(appproxy), appproxy.host, appproxy.port),
            # Last: its first heartbeat finds the manager already listening.
            Site("agent", create_agent_app(agent), agent.host, agent.port),
        ]
        await serve(sites, ready)

    try:
        asyncio.run(run())
    except PlatformError as e:
        _fail(e)


@main.command("manager")
@CONFIG_OPTION
def manager_cmd(config_file: Path | None) -> None:
    """Run the manager (API, scheduler) alone."""
    try:
        settings = load_settings(ManagerSettings, config_file)
    except PlatformError as e:
        _fail(e)
        return

    async def run() -> None:
        await _init_database(settings)
        await serve(
            [
                Site(
                    "manager",
                    create_manager_app(settings, migrate=False),
                    settings.host,
                    settings.port,
                )
            ]
        )

    asyncio.run(run())


@main.command("agent")
@CONFIG_OPTION
def agent_cmd(config_file: Path | None) -> None:
    """Run an agent: the containers of this node (needs [agent] token and manager_url)."""
    try:
        settings = load_settings(AgentSettings, config_file)
    except PlatformError as e:
        _fail(e)
        return
    asyncio.run(run_agent(settings))


@main.command("webserver")
@CONFIG_OPTION
def webserver_cmd(config_file: Path | None) -> None:
    """Run the webserver (login, web UI, API forwarding) alone."""
    try:
        settings = load_settings(WebserverSettings, config_file)
    except PlatformError as e:
        _fail(e)
        return
    asyncio.run(
        serve([Site("webserver", create_webserver_app(settings), settings.host, settings.port)])
    )


@main.command("storage")
@CONFIG_OPTION
def storage_cmd(config_file: Path | None) -> None:
    """Run the storage process (virtual-folder volumes: files, uploads, downloads) alone."""
    try:
        settings = load_settings(StorageSettings, config_file)
        app = create_storage_app(settings)
    except PlatformError as e:
        _fail(e)
        return
    asyncio.run(serve([Site("storage", app, settings.host, settings.port)]))


@main.command("appproxy")
@CONFIG_OPTION
def appproxy_cmd(config_file: Path | None) -> None:
    """Run an app proxy (apps of sessions in browsers) alone; several may serve one manager."""
    try:
        settings = load_settings(AppProxySettings, config_file)
        app = create_appproxy_app(settings)
    except PlatformError as e:
        _fail(e)
        return
    asyncio.run(serve([Site("appproxy", app, settings.host, settings.port)]))


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@CONFIG_OPTION
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(config_file: Path | None, revision: str) -> None:
    """Apply the schema migrations to the configured database."""
    try:
        settings = load_settings(ManagerSettings, config_file)
        asyncio.run(upgrade(settings.database_url, revision))
    except PlatformError as e:
        _fail(e)
        return
    click.echo(f"✔ The database is at revision {revision}.")
