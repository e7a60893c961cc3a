"""GraphQL user and keypair mutations, with the shapes Backend.AI's client 20.9.9 sends
(``create_user(email, props: UserInput)``, ``modify_keypair(access_key, props:
ModifyKeyPairInput)``, ...).

Each answers ``{ok, msg, <object>}`` when it is carried out. A refusal (no right, bad input,
a duplicate, something in the way) is a GraphQL error whose message names the problem, and
nothing of the mutation is written (the services run each in one transaction).
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.types import Info

from backendai.common.errors import InternalError
from backendai.common.identity import (
    KeyPairProps,
    ModifyKeyPairProps,
    ModifyUserProps,
    PurgeUserProps,
    UserProps,
)
from backendai.manager.context import ManagerContext
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.keypairs import KeyPairNode, keypair_node
from backendai.manager.gql.mutating import props_of
from backendai.manager.gql.users import UserNode, user_node
from backendai.manager.services.identity_keypairs import KeyPairService
from backendai.manager.services.identity_users import UserService

P = TypeVar("P", bound=BaseModel)
SUCCESS = "success"


def manager_of(ctx: GQLContext) -> ManagerContext:
    if ctx.manager is None:
        raise InternalError("This GraphQL context has no manager to carry out mutations.")
    return ctx.manager


async def fresh(ctx: GQLContext) -> GQLContext:
    """``ctx`` with its read transaction ended, so that it sees what a service (in a session
    of its own) has just committed; an earlier field of the document may have begun one."""
    await ctx.db.commit()
    return ctx


def _users(ctx: GQLContext) -> UserService:
    manager = manager_of(ctx)
    return UserService(manager.db, manager.auth.passwords)


@strawberry.input(name="UserInput")
class UserInput:
    password: str | None = None
    username: str | None = None
    full_name: str | None = None
    role: str | None = None
    status: str | None = None
    is_active: bool | None = None
    need_password_change: bool | None = None
    description: str | None = None
    domain_name: str | None = None
    group_ids: list[str] | None = None


@strawberry.input(name="ModifyUserInput")
class ModifyUserInput:
    password: str | None = None
    username: str | None = None
    full_name: str | None = None
    domain_name: str | None = None
    role: str | None = None
    status: str | None = None
    is_active: bool | None = None
    need_password_change: bool | None = None
    description: str | None = None
    group_ids: list[str] | None = None


@strawberry.input(name="PurgeUserInput")
class PurgeUserInput:
    purge_shared_vfolders: bool | None = None


@strawberry.input(name="KeyPairInput")
class KeyPairInput:
    is_active: bool | None = None
    is_admin: bool | None = None
    resource_policy: str | None = None
    concurrency_limit: int | None = None
    rate_limit: int | None = None


@strawberry.input(name="ModifyKeyPairInput")
class ModifyKeyPairInput:
    is_active: bool | None = None
    is_admin: bool | None = None
    resource_policy: str | None = None
    concurrency_limit: int | None = None
    rate_limit: int | None = None


@strawberry.type
class CreateUser:
    ok: bool
    msg: str
    user: UserNode | None


@strawberry.type
class ModifyUser:
    ok: bool
    msg: str
    user: UserNode | None


@strawberry.type
class DeleteUser:
    ok: bool
    msg: str


@strawberry.type
class PurgeUser:
    ok: bool
    msg: str


@strawberry.type
class CreateKeyPair:
    ok: bool
    msg: str
    keypair: KeyPairNode | None


@strawberry.type
class ModifyKeyPair:
    ok: bool
    msg: str


@strawberry.type
class DeleteKeyPair:
    ok: bool
    msg: str


@strawberry.type
class IdentityMutation:
    @strawberry.mutation
    async def create_user(
        self, info: Info[GQLContext, None], email: str, props: UserInput
    ) -> CreateUser:
        ctx = info.context
        made = await _users(ctx).create(ctx.principal, email, props_of(UserProps, props))
        return CreateUser(ok=True, msg=SUCCESS, user=await user_node(await fresh(ctx), made))

    @strawberry.mutation
    async def modify_user(
        self, info: Info[GQLContext, None], email: str, props: ModifyUserInput
    ) -> ModifyUser:
        ctx = info.context
        changed = await _users(ctx).modify(ctx.principal, email, props_of(ModifyUserProps, props))
        return ModifyUser(ok=True, msg=SUCCESS, user=await user_node(await fresh(ctx), changed))

    @strawberry.mutation
    async def delete_user(self, info: Info[GQLContext, None], email: str) -> DeleteUser:
        """Inactivate the user (its status becomes ``deleted``, its keypairs inactive)."""
        ctx = info.context
        await _users(ctx).inactivate(ctx.principal, email)
        return DeleteUser(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def purge_user(
        self, info: Info[GQLContext, None], email: str, props: PurgeUserInput | None = None
    ) -> PurgeUser:
        ctx = info.context
        purge = props_of(PurgeUserProps, props) if props is not None else PurgeUserProps()
        await _users(ctx).purge(ctx.principal, email, purge)
        return PurgeUser(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def create_keypair(
        self, info: Info[GQLContext, None], user_id: str, props: KeyPairInput
    ) -> CreateKeyPair:
        """The answer shows the new secret key to its creator this once (it has to hand it
        over); later reads show it to its owner and superadmins only."""
        ctx = info.context
        service = KeyPairService(manager_of(ctx).db)
        made = await service.create(ctx.principal, user_id, props_of(KeyPairProps, props))
        node = dataclasses.replace(
            await keypair_node(await fresh(ctx), made.access_key), secret_key=made.secret_key
        )
        return CreateKeyPair(ok=True, msg=SUCCESS, keypair=node)

    @strawberry.mutation
    async def modify_keypair(
        self, info: Info[GQLContext, None], access_key: str, props: ModifyKeyPairInput
    ) -> ModifyKeyPair:
        ctx = info.context
        service = KeyPairService(manager_of(ctx).db)
        await service.modify(ctx.principal, access_key, props_of(ModifyKeyPairProps, props))
        return ModifyKeyPair(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def delete_keypair(self, info: Info[GQLContext, None], access_key: str) -> DeleteKeyPair:
        ctx = info.context
        await KeyPairService(manager_of(ctx).db).delete(ctx.principal, access_key)
        return DeleteKeyPair(ok=True, msg=SUCCESS)
