"""Sharing virtual folders with other users: invitations (invite, list, accept, reject or
cancel), direct shares by owners and admins (share, unshare), and a sharee's leave.

A share is a ``VFolderShare`` row: the sharee reaches the folder at that permission (ro, rw,
wd), never more, and never manages it. An invitation becomes a share when its invitee accepts.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidRequest, NotFound
from backendai.common.statuses import VFolderPermission
from backendai.common.vfolders import HostPermission
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import User, VFolder, VFolderInvitation, VFolderShare
from backendai.manager.services import vfolder_access as access
from backendai.manager.services.auth import Principal
from backendai.manager.services.vfolder_access import FolderAccess, Need

PENDING = "pending"


class InvitationNotFound(NotFound):
    code = "vfolder-invitation-not-found"
    title = "No such invitation."


def _emails(emails: list[str]) -> list[str]:
    return list(dict.fromkeys(e.strip() for e in emails if e.strip()))


async def _users(db: AsyncSession, emails: list[str]) -> dict[str, uuid.UUID]:
    if not emails:
        return {}
    rows = await db.execute(sa.select(User.email, User.uuid).where(User.email.in_(emails)))
    return {e: u for e, u in rows}


async def _share(
    db: AsyncSession, folder: VFolder, user: uuid.UUID, perm: VFolderPermission
) -> None:
    row = await db.get(VFolderShare, (folder.id, user))
    if row is None:
        db.add(VFolderShare(vfolder=folder.id, user=user, permission=perm))
    else:
        row.permission = perm


def _sharable(a: FolderAccess, user: uuid.UUID) -> bool:
    """Not the folder's own user (it has it already)."""
    return a.folder.user != user


class VFolderSharingService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def _manage(self, db: AsyncSession, p: Principal, ref: str) -> FolderAccess:
        a = await access.resolve(db, p, ref, Need.MANAGE)
        await access.require_host(db, p, a.folder.host, HostPermission.INVITE.value)
        return a

    async def invite(
        self, p: Principal, ref: str, perm: VFolderPermission, emails: list[str]
    ) -> list[str]:
        invited: list[str] = []
        async with self._db() as db, db.begin():
            a = await self._manage(db, p, ref)
            users = await _users(db, _emails(emails))
            for email, user in users.items():
                if not _sharable(a, user) or user == p.user_uuid:
                    continue
                shared = await db.get(VFolderShare, (a.folder.id, user))
                pending = await db.scalar(
                    sa.select(VFolderInvitation.id).where(
                        VFolderInvitation.vfolder == a.folder.id,
                        VFolderInvitation.invitee == email,
                        VFolderInvitation.state == PENDING,
                    )
                )
                if shared is not None or pending is not None:
                    continue
                db.add(VFolderInvitation(
                    vfolder=a.folder.id, inviter=p.email, invitee=email, permission=perm,
                    state=PENDING,
                ))  # fmt: skip
                invited.append(email)
        return invited

    async def invitations(self, p: Principal, *, sent: bool = False) -> list[dict[str, Any]]:
        """The pending invitations ``p`` received (what client 20.9.9 offers to accept), or
        with ``sent`` those it sent (to cancel one)."""
        mine = VFolderInvitation.inviter if sent else VFolderInvitation.invitee
        async with self._db() as db:
            rows = await db.execute(
                sa.select(VFolderInvitation, VFolder.name)
                .join(VFolder, VFolder.id == VFolderInvitation.vfolder)
                .where(
                    mine == p.email,
                    VFolderInvitation.state == PENDING, VFolder.status == access.READY,
                )
                .order_by(VFolderInvitation.created_at)
            )  # fmt: skip
            return [
                {"id": inv.id.hex, "inviter": inv.inviter, "invitee": inv.invitee,
                 "perm": inv.permission.value, "state": inv.state,
                 "created_at": str(inv.created_at), "vfolder_id": inv.vfolder.hex,
                 "vfolder_name": name}
                for inv, name in rows
            ]  # fmt: skip

    async def _invitation(self, db: AsyncSession, inv_id: str) -> VFolderInvitation:
        try:
            key = uuid.UUID(inv_id)
        except ValueError:
            key = None
        inv = await db.get(VFolderInvitation, key) if key is not None else None
        if inv is None or inv.state != PENDING:
            raise InvitationNotFound(f"No pending invitation {inv_id!r} for you.")
        return inv

    async def accept(self, p: Principal, inv_id: str) -> None:
        async with self._db() as db, db.begin():
            inv = await self._invitation(db, inv_id)
            if inv.invitee != p.email:
                raise InvitationNotFound(f"No pending invitation {inv_id!r} for you.")
            folder = await db.get(VFolder, inv.vfolder)
            if folder is None or folder.status != access.READY:
                raise InvitationNotFound("The folder of this invitation is gone.")
            await _share(db, folder, p.user_uuid, inv.permission)
            inv.state, inv.modified_at = "accepted", utcnow()

    async def delete_invitation(self, p: Principal, inv_id: str) -> None:
        """The invitee rejects, or the inviter cancels."""
        async with self._db() as db, db.begin():
            inv = await self._invitation(db, inv_id)
            if inv.invitee == p.email:
                inv.state = "rejected"
            elif inv.inviter == p.email:
                inv.state = "canceled"
            else:
                raise InvitationNotFound(f"No pending invitation {inv_id!r} for you.")
            inv.modified_at = utcnow()

    async def share(
        self, p: Principal, ref: str, perm: VFolderPermission, emails: list[str]
    ) -> list[str]:
        wanted = _emails(emails)
        async with self._db() as db, db.begin():
            a = await self._manage(db, p, ref)
            users = await _users(db, wanted)
            unknown = [e for e in wanted if e not in users]
            if unknown:
                raise InvalidRequest(
                    f"No user with the e-mail {', '.join(unknown)}.", data={"emails": unknown}
                )
            done = []
            for email, user in users.items():
                if _sharable(a, user):
                    await _share(db, a.folder, user, perm)
                    done.append(email)
            return done

    async def unshare(self, p: Principal, ref: str, emails: list[str]) -> list[str]:
        async with self._db() as db, db.begin():
            a = await self._manage(db, p, ref)
            users = await _users(db, _emails(emails))
            done = []
            for email, user in users.items():
                result = await db.execute(
                    sa.delete(VFolderShare).where(
                        VFolderShare.vfolder == a.folder.id, VFolderShare.user == user
                    )
                )
                if getattr(result, "rowcount", 0):
                    done.append(email)
            return done

    async def leave(self, p: Principal, ref: str) -> None:
        async with self._db() as db, db.begin():
            a = await access.resolve(db, p, ref, Need.READ)
            share = await db.get(VFolderShare, (a.folder.id, p.user_uuid))
            if share is None:
                raise InvalidRequest(
                    f"The virtual folder {a.folder.name!r} is not shared with you; only a "
                    "folder shared with you can be left."
                )
            await db.delete(share)
