"""Sharing virtual folders: invitations (invite, list, accept, reject, cancel), direct shares
(share, unshare) and leave, against the real storage process."""

from __future__ import annotations

from typing import Any

from tests.manager.tenants import Tenants
from tests.manager.test_vfolders import (
    download,
    listed,
    make,
    names_in,
    problem,
    ticket,
    upload,
    world,
)

__all__ = ["world"]


async def invitations(w: Tenants, who: str) -> list[dict[str, Any]]:
    status, body = await w.call(who, "GET", "/folders/invitations/list")
    assert status == 200, body
    found: list[dict[str, Any]] = body["invitations"]
    return found


async def test_invite_accept_then_read_only(world: Tenants) -> None:
    await make(world, "demo", "shared")
    await upload(world, "demo", "shared", "readme", b"read me")
    bob = world["bob"].email
    body = {"perm": "ro", "user_ids": [bob, "nobody@example.com"]}
    status, answer = await world.call("demo", "POST", "/folders/shared/invite", body)
    assert (status, answer) == (201, {"invited_ids": [bob]})
    # Asked again while pending: nobody is invited twice.
    status, answer = await world.call("demo", "POST", "/folders/shared/invite", body)
    assert (status, answer) == (201, {"invited_ids": []})
    [inv] = await invitations(world, "bob")
    assert inv["inviter"] == world["demo"].email and inv["invitee"] == bob
    assert inv["perm"] == "ro" and inv["state"] == "pending" and inv["vfolder_name"] == "shared"
    assert await listed(world, "bob") == {}  # not before accepting
    # Only the invitee accepts.
    status, _ = await world.call("dadmin2", "POST", "/folders/invitations/accept",
                                 {"inv_id": inv["id"]})  # fmt: skip
    assert status == 404
    status, answer = await world.call("bob", "POST", "/folders/invitations/accept",
                                      {"inv_id": inv["id"]})  # fmt: skip
    assert (status, answer) == (200, {})
    assert await invitations(world, "bob") == []
    seen = await listed(world, "bob")
    assert seen["shared"]["permission"] == "ro" and seen["shared"]["is_owner"] is False
    assert await names_in(world, "bob", "shared") == {"readme"}
    assert await download(world, "bob", "shared", "readme") == b"read me"
    status, body = await ticket(world, "bob", "shared", "upload", {"path": "x", "size": 1})
    assert status == 403 and problem(body) == "insufficient-privilege", body
    status, _ = await world.call("bob", "POST", "/folders/shared/mkdir", {"path": "d"})
    assert status == 403
    status, _ = await world.call("bob", "DELETE", "/folders/shared/delete_files",
                                 {"files": ["readme"]})  # fmt: skip
    assert status == 403
    status, _ = await world.call("bob", "POST", "/folders/shared/rename", {"new_name": "mine"})
    assert status == 403
    status, _ = await world.call("bob", "DELETE", "/folders/shared")
    assert status == 403
    # The owner sees its sharees.
    status, info = await world.call("demo", "GET", "/folders/shared")
    assert info["shared_with"] == [{"email": bob, "permission": "ro"}]
    status, info = await world.call("bob", "GET", "/folders/shared")
    assert status == 200 and "shared_with" not in info


async def test_reject_and_cancel(world: Tenants) -> None:
    await make(world, "demo", "offer")
    bob, dadmin2 = world["bob"].email, world["dadmin2"].email
    body = {"perm": "rw", "user_ids": [bob, dadmin2]}
    assert (await world.call("demo", "POST", "/folders/offer/invite", body))[0] == 201
    [to_bob] = await invitations(world, "bob")
    [to_dadmin2] = await invitations(world, "dadmin2")
    assert await invitations(world, "demo") == []  # only what one received
    status, sent = await world.call("demo", "GET", "/folders/invitations/list-sent")
    assert status == 200 and {i["id"] for i in sent["invitations"]} == {
        to_bob["id"],
        to_dadmin2["id"],
    }
    # bob rejects; demo cancels the other one; a third party can do neither.
    status, _ = await world.call("mon", "DELETE", "/folders/invitations/delete",
                                 {"inv_id": to_bob["id"]})  # fmt: skip
    assert status == 404
    assert await world.call("bob", "DELETE", "/folders/invitations/delete",
                            {"inv_id": to_bob["id"]}) == (200, {})  # fmt: skip
    assert await world.call("demo", "DELETE", "/folders/invitations/delete",
                            {"inv_id": to_dadmin2["id"]}) == (200, {})  # fmt: skip
    assert await invitations(world, "bob") == [] and await invitations(world, "dadmin2") == []
    status, _ = await world.call("bob", "POST", "/folders/invitations/accept",
                                 {"inv_id": to_bob["id"]})  # fmt: skip
    assert status == 404
    assert await listed(world, "bob") == {}
    status, body = await world.call("bob", "POST", "/folders/invitations/accept",
                                    {"inv_id": "not-an-id"})  # fmt: skip
    assert status == 404, body


async def test_share_unshare_and_leave(world: Tenants) -> None:
    await make(world, "demo", "direct")
    bob = world["bob"].email
    body = {"permission": "rw", "emails": [bob]}
    assert await world.call("demo", "POST", "/folders/direct/share", body) == (
        201, {"shared_emails": [bob]},
    )  # fmt: skip
    await upload(world, "bob", "direct", "by-bob", b"rw works")
    assert await names_in(world, "demo", "direct") == {"by-bob"}
    # A sharee neither shares further nor invites.
    status, _ = await world.call("bob", "POST", "/folders/direct/share",
                                 {"permission": "rw", "emails": [world["mon"].email]})  # fmt: skip
    assert status == 403
    status, _ = await world.call("bob", "POST", "/folders/direct/invite",
                                 {"perm": "ro", "user_ids": [world["mon"].email]})  # fmt: skip
    assert status == 403
    ghost = {"permission": "ro", "emails": ["ghost@example.com"]}
    status, body = await world.call("demo", "POST", "/folders/direct/share", ghost)
    assert status == 400 and "ghost@example.com" in body["msg"]
    assert await world.call("demo", "DELETE", "/folders/direct/unshare", {"emails": [bob]}) == (
        200, {"unshared_emails": [bob]},
    )  # fmt: skip
    assert (await world.call("bob", "GET", "/folders/direct"))[0] == 404
    # Shared again, then bob leaves.
    assert (await world.call("demo", "POST", "/folders/direct/share",
                             {"permission": "ro", "emails": [bob]}))[0] == 201  # fmt: skip
    assert "direct" in await listed(world, "bob")
    assert await world.call("bob", "POST", "/folders/direct/leave") == (200, {})
    assert await listed(world, "bob") == {}
    status, _ = await world.call("demo", "POST", "/folders/direct/leave")
    assert status == 400  # an owner does not leave its own folder
    # An admin of the domain shares a user's folder too.
    status, _ = await world.call(
        "dadmin",
        "POST",
        f"/folders/{(await listed(world, 'demo'))['direct']['id']}/share",
        {"permission": "ro", "emails": [bob]},
    )
    assert status == 201


async def test_clone_of_a_shared_folder_needs_cloneable(world: Tenants) -> None:
    await make(world, "demo", "origin")
    await upload(world, "demo", "origin", "f", b"x")
    share = {"permission": "ro", "emails": [world["bob"].email]}
    assert (await world.call("demo", "POST", "/folders/origin/share", share))[0] == 201
    body = {"target_name": "mine", "target_host": None, "usage_mode": "general",
            "permission": "rw"}  # fmt: skip
    status, answer = await world.call("bob", "POST", "/folders/origin/clone", body)
    assert status == 403, answer
    assert (await world.call("demo", "POST", "/folders/origin/update-options",
                             {"cloneable": True}))[0] == 201  # fmt: skip
    status, answer = await world.call("bob", "POST", "/folders/origin/clone", body)
    assert status == 201 and answer["is_owner"] is True, answer
    assert await download(world, "bob", "mine", "f") == b"x"
