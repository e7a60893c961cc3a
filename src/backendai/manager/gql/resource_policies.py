"""GraphQL keypair resource policies: ``keypair_resource_policy(ies)`` and the
create/modify/delete mutations, with the shapes Backend.AI's client 20.9.9 sends."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from backendai.common.errors import InvalidRequest
from backendai.common.vfolders import format_host_grants
from backendai.manager.db.models import KeyPairResourcePolicy
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.mutating import committed
from backendai.manager.gql.scalars import BigInt, JSONString
from backendai.manager.services import resource_policies as service
from backendai.manager.services.resource_policies import PolicyProps
from backendai.manager.validation import validate


@strawberry.type
class KeyPairResourcePolicyNode:
    name: str
    created_at: datetime
    default_for_unspecified: str
    total_resource_slots: JSONString
    max_session_lifetime: int
    max_concurrent_sessions: int
    max_containers_per_session: int
    max_vfolder_count: int
    max_vfolder_size: BigInt
    idle_timeout: BigInt
    allowed_vfolder_hosts: list[str]
    max_pending_session_count: int = strawberry.field(
        description="Sessions that may wait (PENDING) beyond max_concurrent_sessions."
    )

    @staticmethod
    def build(p: KeyPairResourcePolicy) -> KeyPairResourcePolicyNode:
        return KeyPairResourcePolicyNode(
            name=p.name, created_at=p.created_at,
            default_for_unspecified=p.default_for_unspecified.value,
            total_resource_slots=JSONString(dict(p.total_resource_slots)),
            max_session_lifetime=p.max_session_lifetime,
            max_concurrent_sessions=p.max_concurrent_sessions,
            max_containers_per_session=p.max_containers_per_session,
            max_vfolder_count=p.max_vfolder_count, max_vfolder_size=BigInt(p.max_vfolder_size),
            idle_timeout=BigInt(p.idle_timeout),
            allowed_vfolder_hosts=format_host_grants(p.allowed_vfolder_hosts),
            max_pending_session_count=p.max_pending_session_count,
        )  # fmt: skip


@strawberry.input
class CreateKeyPairResourcePolicyInput:
    default_for_unspecified: str
    total_resource_slots: JSONString
    max_concurrent_sessions: int
    max_containers_per_session: int
    max_vfolder_count: int
    max_vfolder_size: BigInt
    idle_timeout: BigInt
    allowed_vfolder_hosts: list[str] | None = None
    max_session_lifetime: int | None = 0
    max_pending_session_count: int | None = 0


@strawberry.input
class ModifyKeyPairResourcePolicyInput:
    default_for_unspecified: str | None = None
    total_resource_slots: JSONString | None = None
    max_concurrent_sessions: int | None = None
    max_containers_per_session: int | None = None
    max_vfolder_count: int | None = None
    max_vfolder_size: BigInt | None = None
    idle_timeout: BigInt | None = None
    allowed_vfolder_hosts: list[str] | None = None
    max_session_lifetime: int | None = None
    max_pending_session_count: int | None = None


def _props(data: object) -> PolicyProps:
    values = {k: v for k, v in vars(data).items() if v is not strawberry.UNSET}
    slots = values.get("total_resource_slots")
    if isinstance(slots, str):  # Backend.AI's CLI passes the option's text as is
        raise InvalidRequest(f"total_resource_slots must be a JSON object, not {slots[:80]!r}.")
    return validate(PolicyProps, values)


@strawberry.type
class CreateKeyPairResourcePolicy:
    ok: bool
    msg: str
    resource_policy: KeyPairResourcePolicyNode | None


@strawberry.type
class ModifyKeyPairResourcePolicy:
    ok: bool
    msg: str


@strawberry.type
class DeleteKeyPairResourcePolicy:
    ok: bool
    msg: str


async def resolve_keypair_resource_policy(
    info: Info[GQLContext, None], name: str | None = None
) -> KeyPairResourcePolicyNode | None:
    """The named policy, or the caller's keypair's when no name is given."""
    ctx = info.context
    if name is None:
        return KeyPairResourcePolicyNode.build(await service.of_keypair(ctx.db, ctx.principal))
    found = await service.visible(ctx.db, ctx.principal, name)
    if not found:
        raise service.policy_not_found(name)
    return KeyPairResourcePolicyNode.build(found[0])


async def resolve_keypair_resource_policies(
    info: Info[GQLContext, None],
) -> list[KeyPairResourcePolicyNode]:
    ctx = info.context
    rows = await service.visible(ctx.db, ctx.principal)
    return [KeyPairResourcePolicyNode.build(p) for p in ctx.charge(rows)]


@strawberry.type
class ResourcePolicyQuery:
    keypair_resource_policy: KeyPairResourcePolicyNode | None = strawberry.field(
        resolver=resolve_keypair_resource_policy
    )
    keypair_resource_policies: list[KeyPairResourcePolicyNode] = strawberry.field(
        resolver=resolve_keypair_resource_policies
    )


@strawberry.type
class ResourcePolicyMutation:
    @strawberry.mutation
    async def create_keypair_resource_policy(
        self, info: Info[GQLContext, None], name: str, props: CreateKeyPairResourcePolicyInput
    ) -> CreateKeyPairResourcePolicy:
        ctx = info.context
        policy = await committed(ctx, service.create(ctx.db, ctx.principal, name, _props(props)))
        node = KeyPairResourcePolicyNode.build(policy)
        return CreateKeyPairResourcePolicy(ok=True, msg="success", resource_policy=node)

    @strawberry.mutation
    async def modify_keypair_resource_policy(
        self, info: Info[GQLContext, None], name: str, props: ModifyKeyPairResourcePolicyInput
    ) -> ModifyKeyPairResourcePolicy:
        ctx = info.context
        await committed(ctx, service.modify(ctx.db, ctx.principal, name, _props(props)))
        return ModifyKeyPairResourcePolicy(ok=True, msg="success")

    @strawberry.mutation
    async def delete_keypair_resource_policy(
        self, info: Info[GQLContext, None], name: str
    ) -> DeleteKeyPairResourcePolicy:
        ctx = info.context
        await committed(ctx, service.delete(ctx.db, ctx.principal, name))
        return DeleteKeyPairResourcePolicy(ok=True, msg="success")
