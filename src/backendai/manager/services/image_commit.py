"""Committing a running session's container to a new private image (seed 004).

The image belongs to the session's owner (an admin commits a user's session for that user),
and to the session's group's members when asked. Its name is
``private/<owner uuid>/<name>:<tag>``: nobody's commit can take the name of a public image or
of another user's. ``/home/work`` is a bind mount, so the user's home is not in the image.
Who may commit is the table's (SESSION, COMMIT), checked where the session is looked up.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import LABEL_IMAGE_OWNER, PRIVATE_IMAGE_PREFIX, CommitRequest
from backendai.common.errors import InvalidSessionState
from backendai.common.image_commit import CommitSessionRequest, CommitSessionResult
from backendai.common.image_labels import LABEL_COMMITTED_FROM
from backendai.common.statuses import SessionStatus
from backendai.manager.agent_client import AgentClient
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, Group, Image, Session, User
from backendai.manager.services import images
from backendai.manager.services.sessions import main_kernel

log = logging.getLogger(__name__)


def image_name(session: Session, req: CommitSessionRequest) -> str:
    """The new image's full name, in its owner's private namespace."""
    _, repository, _ = images.split_name(session.image)
    short = req.image_name or re.sub(r"[^a-z0-9._-]+", "-", repository.rsplit("/", 1)[-1].lower())
    default_tag = f"{session.name}-{utcnow():%Y%m%d%H%M%S}"
    tag = req.tag or re.sub(r"[^A-Za-z0-9_.-]+", "-", default_tag).lstrip(".-")[:128]
    return f"{PRIVATE_IMAGE_PREFIX}{session.user_uuid}/{short.strip('._-') or 'image'}:{tag}"


class ImageCommitter:
    def __init__(self, db: async_sessionmaker[AsyncSession], agents: AgentClient) -> None:
        self._db = db
        self._agents = agents

    async def commit(self, session: Session, req: CommitSessionRequest) -> CommitSessionResult:
        async with self._db() as db:
            kernel = await main_kernel(db, session.id)
            if session.status is not SessionStatus.RUNNING or kernel is None:
                raise InvalidSessionState(
                    f"The session {session.name} is {session.status.value}; only a RUNNING "
                    "session can be committed to an image."
                )
            if kernel.agent is None or kernel.agent_addr is None:
                raise InvalidSessionState(f"The session {session.name} has no container yet.")
            agent_id, addr, arch = kernel.agent, kernel.agent_addr, kernel.architecture
            owner = await db.get(User, session.user_uuid)
            group = await db.get(Group, session.group_id) if req.share_with_group else None
        name = image_name(session, req)
        request = CommitRequest(
            image=name,
            labels={
                LABEL_IMAGE_OWNER: str(session.user_uuid),
                LABEL_COMMITTED_FROM: str(session.id),
            },
        )
        info = await self._agents.commit_kernel(addr, kernel.id, request)
        async with self._db() as db, db.begin():
            await images.register(db, [info], arch)
            img = await db.scalar(
                sa.select(Image).where(Image.name == name, Image.architecture == arch)
            )
            if img is None:  # not a session image (no kernelspec label): cannot happen for ours
                raise InvalidSessionState(f"The session's image {session.image} cannot be run.")
            img.owner_group = group.id if group is not None else None
            agent = await db.get(Agent, agent_id)
            if agent is not None and name not in (agent.images or []):
                agent.images = [*(agent.images or []), name]
        log.info("session %s committed to %s", session.id, name)
        return CommitSessionResult(
            image=name,
            owner=owner.email if owner is not None else str(session.user_uuid),
            group=group.name if group is not None else None,
            digest=info.digest,
            size_bytes=info.size_bytes,
        )
