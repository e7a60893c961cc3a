"""Images of a Docker registry, read through the Registry HTTP API v2.

A registry is configured in the platform's shared configuration (``admin etcd``), as
Backend.AI keeps it in etcd: ``config/docker/registry/<name>`` holds its URL
(``http://localhost:5000``), and ``.../<name>/username`` and ``.../<name>/password`` optional
credentials (HTTP basic). Its session images (those with the kernelspec label) are registered
as ``<name>/<repository>:<tag>``. Agents run an image only once it is on their Docker Engine.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.agent_protocol import ImageInfo
from backendai.manager.db.models import ConfigEntry

PREFIX = "config/docker/registry/"
MAX_REPOSITORIES = 1000
MAX_TAGS = 200
SCAN_TIMEOUT = 120.0  # seconds one registry's scan may take in all
_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


class RegistryError(Exception):
    """A registry that cannot be read (unreachable, refusing, answering nonsense)."""


@dataclass(frozen=True)
class Registry:
    name: str
    url: str
    username: str | None = None
    password: str | None = None


async def configured(db: AsyncSession) -> dict[str, Registry]:
    """The registries of the shared configuration, by name."""
    rows = (
        await db.execute(
            sa.select(ConfigEntry.key, ConfigEntry.value).where(ConfigEntry.key.startswith(PREFIX))
        )
    ).all()
    urls: dict[str, str] = {}
    extra: dict[tuple[str, str], str] = {}
    for key, value in rows:
        name, _, sub = key[len(PREFIX) :].partition("/")
        if not name:
            continue
        if sub:
            extra[(name, sub)] = value
        else:
            urls[name] = value.strip()
    return {
        name: Registry(name, url, extra.get((name, "username")), extra.get((name, "password")))
        for name, url in urls.items()
        if url
    }


async def scan(registry: Registry) -> list[ImageInfo]:
    """The registry's images (session images and others; registering picks the former)."""
    auth = None
    if registry.username is not None:
        auth = aiohttp.BasicAuth(registry.username, registry.password or "")
    timeout = aiohttp.ClientTimeout(total=SCAN_TIMEOUT)
    try:
        async with aiohttp.ClientSession(auth=auth, timeout=timeout) as http:
            return await _scan(http, registry)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"{type(e).__name__} {e}".strip()) from e


async def _get(http: aiohttp.ClientSession, url: str, accept: str | None = None) -> Any:
    headers = {"Accept": accept} if accept else {}
    async with http.get(url, headers=headers) as resp:
        if resp.status >= 400:
            raise RegistryError(f"GET {url} answered {resp.status}")
        return json.loads(await resp.read())


async def _scan(http: aiohttp.ClientSession, registry: Registry) -> list[ImageInfo]:
    base = registry.url.rstrip("/") + "/v2"
    catalog = await _get(http, f"{base}/_catalog?n={MAX_REPOSITORIES}")
    found: list[ImageInfo] = []
    for repo in list(catalog.get("repositories") or [])[:MAX_REPOSITORIES]:
        tags = (await _get(http, f"{base}/{repo}/tags/list")).get("tags") or []
        for tag in list(tags)[:MAX_TAGS]:
            manifest = await _get(http, f"{base}/{repo}/manifests/{tag}", _MANIFEST_TYPES)
            digest = str(manifest["config"]["digest"])
            config = await _get(http, f"{base}/{repo}/blobs/{digest}")
            labels = (config.get("config") or {}).get("Labels") or {}
            size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
            found.append(
                ImageInfo(
                    name=f"{registry.name}/{repo}:{tag}",
                    digest=digest,
                    size_bytes=size,
                    labels={str(k): str(v) for k, v in labels.items()},
                )
            )
        await asyncio.sleep(0)
    return found
