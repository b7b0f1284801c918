"""The one authorisation policy every service uses: who is calling, and may they do this."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from okada.kernel.errors import Forbidden, NotFound, Unauthenticated


class Role(enum.StrEnum):
    """Roles a principal may hold."""

    CUSTOMER = "customer"
    RIDER = "rider"
    MERCHANT_STAFF = "merchant_staff"
    OPERATIONS = "operations"
    ADMIN = "admin"
    SERVICE = "service"
    """Another Okada service calling on its own behalf (never held by a person)."""


STAFF_ROLES = frozenset({Role.OPERATIONS, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a request.

    ``store_ids`` scopes merchant staff to their own stores; operations and admin see all.
    """

    user_id: uuid.UUID
    roles: frozenset[Role]
    store_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    token_id: str | None = None
    session_family: uuid.UUID | None = None

    def has(self, *roles: Role) -> bool:
        """Return whether the principal holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    @property
    def is_staff(self) -> bool:
        """Operations and admin act across every customer, store and rider."""
        return self.has(*STAFF_ROLES)


def require_principal(principal: Principal | None) -> Principal:
    """Fail with 401 when nobody is authenticated."""
    if principal is None:
        raise Unauthenticated()
    return principal


def require_role(principal: Principal | None, *roles: Role) -> Principal:
    """Fail unless the caller holds one of ``roles`` (admin always passes)."""
    caller = require_principal(principal)
    if not caller.has(*roles, Role.ADMIN):
        raise Forbidden("role_required", roles=", ".join(sorted(r.value for r in roles)))
    return caller


def ensure_owner(principal: Principal | None, owner_id: uuid.UUID | None) -> Principal:
    """Allow the resource's owner and staff; hide the resource from anyone else.

    Business rule: a caller who does not own a resource gets 404, not 403, so ids of other
    people's orders, places or sessions cannot be probed.
    """
    caller = require_principal(principal)
    if caller.is_staff or (owner_id is not None and caller.user_id == owner_id):
        return caller
    raise NotFound()


def ensure_store_access(principal: Principal | None, store_id: uuid.UUID) -> Principal:
    """Allow staff of this store, operations and admin."""
    caller = require_principal(principal)
    if caller.is_staff:
        return caller
    if caller.has(Role.MERCHANT_STAFF) and store_id in caller.store_ids:
        return caller
    raise Forbidden("store_access_denied")


def roles_from(values: Iterable[str]) -> frozenset[Role]:
    """Parse role names, ignoring ones this version does not know."""
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in values if v in known)
