"""The GraphQL schema: field names are snake_case, exactly as Backend.AI's client asks.

Each area's module contributes its own query and mutation types, merged here into one
``Query`` and one ``Mutation`` (``QUERIES``, ``MUTATIONS``): add an area by adding its types.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import AddValidationRules
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from backendai.common.errors import PlatformError
from backendai.manager.gql import domains as domain_q
from backendai.manager.gql import keypairs as keypair_q
from backendai.manager.gql import sessions as session_q
from backendai.manager.gql import users as user_q
from backendai.manager.gql.agents import AgentQuery
from backendai.manager.gql.identity_mutations import IdentityMutation
from backendai.manager.gql.images import ImageMutation, ImageQuery
from backendai.manager.gql.limits import QueryLimits
from backendai.manager.gql.org_mutations import OrgMutation
from backendai.manager.gql.presets import PresetMutation, PresetQuery
from backendai.manager.gql.resource_policies import ResourcePolicyMutation, ResourcePolicyQuery
from backendai.manager.gql.scalars import (
    BIG_INT_SCALAR,
    JSON_STRING_SCALAR,
    BigInt,
    JSONString,
)
from backendai.manager.gql.scaling_groups import ScalingGroupMutation, ScalingGroupQuery
from backendai.manager.gql.serial import OneResolverAtATime
from backendai.manager.gql.storage import StorageQuery
from backendai.manager.gql.vfolders import VFolderQuery


@strawberry.type
class CoreQuery:
    keypair: keypair_q.KeyPairNode = strawberry.field(resolver=keypair_q.resolve_keypair)
    keypairs: list[keypair_q.KeyPairNode] = strawberry.field(resolver=keypair_q.resolve_keypairs)
    keypair_list: keypair_q.KeyPairList = strawberry.field(resolver=keypair_q.resolve_keypair_list)
    user: user_q.UserNode = strawberry.field(resolver=user_q.resolve_user)
    user_from_uuid: user_q.UserNode = strawberry.field(resolver=user_q.resolve_user_from_uuid)
    users: list[user_q.UserNode] = strawberry.field(resolver=user_q.resolve_users)
    user_list: user_q.UserList = strawberry.field(resolver=user_q.resolve_user_list)
    domain: domain_q.DomainNode = strawberry.field(resolver=domain_q.resolve_domain)
    domains: list[domain_q.DomainNode] = strawberry.field(resolver=domain_q.resolve_domains)
    group: domain_q.GroupNode = strawberry.field(resolver=domain_q.resolve_group)
    groups: list[domain_q.GroupNode] = strawberry.field(resolver=domain_q.resolve_groups)
    compute_session_list: session_q.ComputeSessionList = strawberry.field(
        resolver=session_q.resolve_compute_session_list
    )
    compute_session: session_q.ComputeSessionNode | None = strawberry.field(
        resolver=session_q.resolve_compute_session
    )


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only what may be a bug: refusals, bad input and limits are answers (to the
        client, in the envelope), not server errors."""
        unexpected = [
            e
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, PlatformError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


QUERIES: tuple[type, ...] = (
    CoreQuery,
    ImageQuery,
    ResourcePolicyQuery,
    PresetQuery,
    ScalingGroupQuery,
    AgentQuery,
    StorageQuery,
    VFolderQuery,
)
MUTATIONS: tuple[type, ...] = (
    IdentityMutation,
    ImageMutation,
    OrgMutation,
    ResourcePolicyMutation,
    PresetMutation,
    ScalingGroupMutation,
)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS) if MUTATIONS else None

schema = _Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(
        auto_camel_case=False,
        scalar_map={JSONString: JSON_STRING_SCALAR, BigInt: BIG_INT_SCALAR},
    ),
    extensions=[
        QueryLimits,
        lambda: AddValidationRules([MaxIntrospectionDepthRule]),
        OneResolverAtATime,
    ],
)
