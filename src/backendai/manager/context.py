"""What the manager's handlers share: settings, the database, the event bus and the services."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backendai.manager.agent_client import AgentClient, load_agent_token
from backendai.manager.appproxy_client import AppProxyClient, load_appproxy_token
from backendai.manager.db.liveness import ManagerLease
from backendai.manager.events import EventBus, MemoryEventBus, session_factory
from backendai.manager.events_redis import RedisEventBus
from backendai.manager.scheduler.dispatcher import Scheduler
from backendai.manager.scheduler.launcher import KernelLauncher
from backendai.manager.services.agents import AgentRegistry
from backendai.manager.services.app_route_janitor import AppRouteJanitor
from backendai.manager.services.app_routes import AppRouteService
from backendai.manager.services.apps import AppService
from backendai.manager.services.auth import AuthService
from backendai.manager.services.dotfiles import DotfileService
from backendai.manager.services.error_logs import ErrorLogService
from backendai.manager.services.idle import IdleReaper
from backendai.manager.services.kernel_access import KernelAccess
from backendai.manager.services.launch_outcomes import LaunchReports
from backendai.manager.services.login_throttle import LoginThrottle
from backendai.manager.services.manager_status import ManagerStatus
from backendai.manager.services.passwords import PasswordPool
from backendai.manager.services.session_control import SessionControl
from backendai.manager.services.sessions import SessionService
from backendai.manager.services.shared_config import SharedConfig
from backendai.manager.services.sweeps import SweepService
from backendai.manager.services.task_logs import TaskLogReader
from backendai.manager.services.vfolder_files import VFolderFileService
from backendai.manager.services.vfolder_sharing import VFolderSharingService
from backendai.manager.services.vfolders import VFolderService
from backendai.manager.settings import ManagerSettings
from backendai.manager.storage_client import StorageClient


@dataclass
class ManagerContext:
    settings: ManagerSettings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    auth: AuthService
    events: EventBus
    agent_client: AgentClient
    sessions: SessionService
    control: SessionControl
    kernels: KernelAccess
    agents: AgentRegistry
    scheduler: Scheduler
    idle: IdleReaper
    manager_status: ManagerStatus
    shared_config: SharedConfig
    dotfiles: DotfileService
    error_logs: ErrorLogService
    lease: ManagerLease
    storage: StorageClient
    vfolders: VFolderService
    vfolder_files: VFolderFileService
    vfolder_sharing: VFolderSharingService
    appproxies: AppProxyClient
    apps: AppService
    app_routes: AppRouteService
    app_janitor: AppRouteJanitor
    sweeps: SweepService
    task_logs: TaskLogReader

    @classmethod
    def build(cls, settings: ManagerSettings, engine: AsyncEngine) -> ManagerContext:
        lease = ManagerLease(engine)
        bus: EventBus = (
            RedisEventBus(settings.redis_url, lease.id)
            if settings.event_bus == "redis"
            else MemoryEventBus()
        )
        db = session_factory(engine, bus)
        agent_client = AgentClient(
            load_agent_token(settings), settings.agent_request_timeout, settings.agent_retry_window
        )
        storage = StorageClient.from_settings(settings)
        triggers: list[Scheduler] = []

        def trigger() -> None:
            for scheduler in triggers:
                scheduler.trigger()
            bus.wake_peers()

        control = SessionControl(db, agent_client, on_release=trigger, lease=lease)
        scheduler = Scheduler(
            db,
            KernelLauncher(db, agent_client, LaunchReports(db, control), lease),
            settings.scheduler_interval,
        )
        triggers.append(scheduler)
        bus.on_peer_wake(scheduler.trigger)
        kernels = KernelAccess(db, agent_client)
        idle = IdleReaper(db, control)
        appproxies = AppProxyClient(load_appproxy_token(settings), settings.appproxies)
        apps = AppService(db, agent_client, kernels, bus)
        return cls(
            settings=settings,
            engine=engine,
            db=db,
            auth=AuthService(
                db,
                settings.auth_clock_skew,
                PasswordPool(settings.password_workers, settings.password_queue),
                LoginThrottle(
                    max_failures_per_user=settings.login_max_failures_per_user,
                    max_failures_per_address=settings.login_max_failures_per_address,
                    lock_seconds=settings.login_lock_seconds,
                ),
            ),
            events=bus,
            agent_client=agent_client,
            sessions=SessionService(db, bus, on_enqueue=scheduler.trigger),
            control=control,
            kernels=kernels,
            agents=AgentRegistry(
                db,
                control,
                lost_timeout=settings.agent_lost_timeout,
                vanish_grace=settings.kernel_vanish_grace,
                on_change=scheduler.trigger,
            ),
            scheduler=scheduler,
            idle=idle,
            manager_status=ManagerStatus(db, control, settings.announcement),
            shared_config=SharedConfig(db),
            dotfiles=DotfileService(db),
            error_logs=ErrorLogService(db),
            lease=lease,
            storage=storage,
            vfolders=VFolderService(db, storage),
            vfolder_files=VFolderFileService(db, storage),
            vfolder_sharing=VFolderSharingService(db),
            appproxies=appproxies,
            apps=apps,
            app_routes=AppRouteService(db, apps, appproxies, agent_client.token, idle),
            app_janitor=AppRouteJanitor(db, appproxies, bus),
            sweeps=SweepService(db, control, on_enqueue=scheduler.trigger),
            task_logs=TaskLogReader(db, agent_client, bus, control.task_logs),
        )

    async def start(self) -> None:
        """Before serving: hold this manager's lease, connect the event bus and start closing
        the app routes of sessions that end."""
        await self.lease.acquire()
        await self.events.start()
        self.app_janitor.start()

    async def close(self) -> None:
        self.auth.close()
        grace = self.settings.shutdown_grace
        await self.scheduler.close(grace)
        await self.agents.close()
        await self.control.close(grace)
        await self.app_janitor.close(min(grace, 5.0))
        await self.appproxies.close()
        await self.agent_client.close()
        await self.storage.close()
        await self.events.aclose()
        await self.lease.release()


CONTEXT_KEY = web.AppKey("manager_context", ManagerContext)


def context_of(request: web.Request) -> ManagerContext:
    return request.app[CONTEXT_KEY]
