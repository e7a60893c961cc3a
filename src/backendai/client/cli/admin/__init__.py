"""``backend.ai admin ...``: administration commands (one module per resource)."""

from __future__ import annotations

import click

from .agents import agent, agents
from .domains import domain, domains
from .editions import show_license, watcher
from .etcd import etcd
from .groups import group, groups
from .images import alias_image, dealias_image, delete_image, images, rescan_images
from .keypairs import keypair, keypairs
from .resource_policies import keypair_resource_policies, keypair_resource_policy
from .resources import resources
from .scaling_groups import list_scaling_groups, scaling_group, scaling_groups
from .sessions import session, sessions
from .storage import storage, storage_list
from .users import user, users


@click.group(invoke_without_command=True)
@click.pass_context
def admin(ctx: click.Context) -> None:
    """Administer the platform: keypairs, users, domains, groups and sessions.

    What each command may see or change depends on the role of your keypair or login.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (domain, domains, group, groups, keypair, keypairs, session, sessions, user, users):
    admin.add_command(command)
for command in (images, rescan_images, alias_image, dealias_image, delete_image):
    admin.add_command(command)
for command in (
    agent, agents, keypair_resource_policy, keypair_resource_policies, list_scaling_groups,
    resources, scaling_group, scaling_groups, storage, storage_list,
):  # fmt: skip
    admin.add_command(command)
for command in (etcd, show_license, watcher):
    admin.add_command(command)
