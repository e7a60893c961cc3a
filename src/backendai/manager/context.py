"""What the manager's handlers share: settings, the database and the services."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backendai.manager.services.auth import AuthService
from backendai.manager.settings import ManagerSettings


@dataclass
class ManagerContext:
    settings: ManagerSettings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    auth: AuthService


CONTEXT_KEY = web.AppKey("manager_context", ManagerContext)


def context_of(request: web.Request) -> ManagerContext:
    return request.app[CONTEXT_KEY]
