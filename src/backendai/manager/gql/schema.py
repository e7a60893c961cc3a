"""The GraphQL schema: field names are snake_case, exactly as Backend.AI's client asks."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from backendai.manager.gql import identity, sessions
from backendai.manager.gql.scalars import JSON_STRING_SCALAR, JSONString


@strawberry.type
class Query:
    keypair: identity.KeyPairNode = strawberry.field(resolver=identity.resolve_keypair)
    keypairs: list[identity.KeyPairNode] = strawberry.field(resolver=identity.resolve_keypairs)
    keypair_list: identity.KeyPairList = strawberry.field(resolver=identity.resolve_keypair_list)
    user: identity.UserNode = strawberry.field(resolver=identity.resolve_user)
    user_from_uuid: identity.UserNode = strawberry.field(resolver=identity.resolve_user_from_uuid)
    users: list[identity.UserNode] = strawberry.field(resolver=identity.resolve_users)
    user_list: identity.UserList = strawberry.field(resolver=identity.resolve_user_list)
    domain: identity.DomainNode = strawberry.field(resolver=identity.resolve_domain)
    domains: list[identity.DomainNode] = strawberry.field(resolver=identity.resolve_domains)
    group: identity.GroupNode = strawberry.field(resolver=identity.resolve_group)
    groups: list[identity.GroupNode] = strawberry.field(resolver=identity.resolve_groups)
    compute_session_list: sessions.ComputeSessionList = strawberry.field(
        resolver=sessions.resolve_compute_session_list
    )
    compute_session: sessions.ComputeSessionNode | None = strawberry.field(
        resolver=sessions.resolve_compute_session
    )


schema = strawberry.Schema(
    query=Query,
    config=StrawberryConfig(auto_camel_case=False, scalar_map={JSONString: JSON_STRING_SCALAR}),
)
