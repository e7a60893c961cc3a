"""The per-request GraphQL context and the authorization helpers resolvers share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import InvalidRequest, PermissionDenied
from backendai.manager.services.auth import Principal


@dataclass
class GQLContext:
    principal: Principal
    db: AsyncSession

    def require_admin(self) -> None:
        if not self.principal.is_domain_admin:
            raise PermissionDenied("This query needs an admin account.")

    def require_superadmin(self) -> None:
        if not self.principal.is_superadmin:
            raise PermissionDenied("This query needs a superadmin account.")

    def visible_domain(self, domain_name: str | None) -> str | None:
        """The domain a query may look into: superadmins any (None = all), others their own."""
        if self.principal.is_superadmin:
            return domain_name
        if domain_name is not None and domain_name != self.principal.domain_name:
            raise PermissionDenied(f"You may not look into the domain {domain_name}.")
        return self.principal.domain_name


def page(limit: int, offset: int) -> tuple[int, int]:
    """A list query's window, capped so that one query cannot read a whole table."""
    if limit < 0 or offset < 0:
        raise InvalidRequest("limit and offset must not be negative.")
    return min(limit, 1000), offset
